# Windows runtime deployment: makes `cmake --install` (and so cpack's NSIS installer) put every
# DLL that lectern.exe and lectern-cli.exe need beside them in bin\. Included by
# packaging/cpack.cmake on WIN32; it must come after add_subdirectory(app) and (ui), because
# install rules run in the order they are declared (CMP0082) and these read the installed exes.
#  1. Qt: windeployqt through qt_generate_deploy_app_script (Qt >= 6.5): Qt DLLs, the plugins
#     (platforms\qwindows, sqldrivers\qsqlite, tls, styles, image formats), Qt's translations and
#     a qt.conf.
#  2. Everything else (poppler, poppler-qt6, ICU, sentencepiece, libzip, tesseract/leptonica,
#     OpenSSL, sqlite3, freetype, zlib, ...; cuBLAS when LECTERN_CUDA): deploy-runtime.cmake at
#     install time, file(GET_RUNTIME_DEPENDENCIES) over the installed exes and plugins, looking in
#     vcpkg's and Qt's bin folders and leaving out Windows' own DLLs.
#  3. The MSVC runtime (vcruntime140.dll, msvcp140.dll, ...): InstallRequiredSystemLibraries.
if(NOT WIN32)
  return()
endif()
include(GNUInstallDirs)

set(_lectern_deploy_targets)
foreach(_target lectern lectern-cli)
  if(TARGET ${_target})
    list(APPEND _lectern_deploy_targets ${_target})
  endif()
endforeach()

# 1. Qt
if(COMMAND qt_generate_deploy_app_script AND Qt6_VERSION VERSION_GREATER_EQUAL 6.5)
  foreach(_target IN LISTS _lectern_deploy_targets)
    # NO_COMPILER_RUNTIME: windeployqt would ship vc_redist.x64.exe; step 3 copies the DLLs.
    qt_generate_deploy_app_script(TARGET ${_target} OUTPUT_SCRIPT _lectern_qt_deploy
                                  NO_COMPILER_RUNTIME NO_UNSUPPORTED_PLATFORM_ERROR)
    install(SCRIPT ${_lectern_qt_deploy})
  endforeach()
else()
  message(WARNING "deploy.cmake: Qt ${Qt6_VERSION} has no qt_generate_deploy_app_script "
                  "OUTPUT_SCRIPT (Qt >= 6.5): Qt's DLLs and plugins are not installed")
endif()

# 2. Non-Qt DLLs. Search folders: vcpkg's (its toolchain file sets these two variables), Qt's
# bin folder, and CUDA's when the CUDA backend is built (cuBLAS DLLs are large: ~0.5 GB).
set(_lectern_deploy_dirs)
if(VCPKG_INSTALLED_DIR AND VCPKG_TARGET_TRIPLET)
  list(APPEND _lectern_deploy_dirs "${VCPKG_INSTALLED_DIR}/${VCPKG_TARGET_TRIPLET}/bin")
endif()
if(QT6_INSTALL_PREFIX)
  list(APPEND _lectern_deploy_dirs "${QT6_INSTALL_PREFIX}/${QT6_INSTALL_BINS}")
endif()
if(LECTERN_CUDA AND CUDAToolkit_BIN_DIR)
  list(APPEND _lectern_deploy_dirs "${CUDAToolkit_BIN_DIR}")
endif()
# dumpbin reads the PE import tables; it sits beside MSVC's link.exe. MinGW has objdump.
if(MSVC)
  get_filename_component(_lectern_linker_dir "${CMAKE_LINKER}" DIRECTORY)
  find_program(LECTERN_DUMPBIN dumpbin HINTS "${_lectern_linker_dir}")
  set(_lectern_deploy_tool dumpbin)
  set(_lectern_deploy_command "${LECTERN_DUMPBIN}")
else()
  set(_lectern_deploy_tool objdump)
  set(_lectern_deploy_command "${CMAKE_OBJDUMP}")
endif()
install(CODE "
  set(LECTERN_DEPLOY_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(LECTERN_DEPLOY_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(LECTERN_DEPLOY_DIRS \"${_lectern_deploy_dirs}\")
  set(LECTERN_DEPLOY_TOOL \"${_lectern_deploy_tool}\")
  set(LECTERN_DEPLOY_COMMAND \"${_lectern_deploy_command}\")
  include(\"${CMAKE_CURRENT_LIST_DIR}/deploy-runtime.cmake\")
")

# 3. The MSVC runtime DLLs, into bin\ beside the exes (no separate redistributable install; the
# Universal CRT is part of Windows 10 and later).
set(CMAKE_INSTALL_SYSTEM_RUNTIME_DESTINATION ${CMAKE_INSTALL_BINDIR})
include(InstallRequiredSystemLibraries)
