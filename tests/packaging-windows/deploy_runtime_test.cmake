# Checks packaging/windows/deploy.cmake and its install-time half deploy-runtime.cmake on Linux:
# configures fake-win32/ (WIN32 claimed, real PE files from wine) and runs `cmake --install`.
# wine's notepad.exe is lectern.exe and cabinet.dll a Qt plugin; wine's DLLs stand in for a vcpkg
# bin folder (zlib1.dll, which the plugin imports) and for C:\Windows\System32 (all the others,
# which must be neither copied nor followed). Expected in bin/: lectern.exe and zlib1.dll only.
# Prints "SKIP: ..." without objdump or wine's PE files (Debian: binutils, wine64).
# cmake -DREPO_DIR=... -DWORK_DIR=... -P this
set(_wine_pe /usr/lib/x86_64-linux-gnu/wine/x86_64-windows)
find_program(OBJDUMP objdump)
if(NOT OBJDUMP OR NOT EXISTS ${_wine_pe}/notepad.exe OR NOT EXISTS ${_wine_pe}/cabinet.dll)
  message("SKIP: needs objdump and wine's PE files in ${_wine_pe} (Debian: binutils, wine64)")
  return()
endif()

file(REMOVE_RECURSE ${WORK_DIR})
set(_vcpkg ${WORK_DIR}/vcpkg/installed)
set(_system32 ${WORK_DIR}/Windows/System32)
file(MAKE_DIRECTORY ${_vcpkg}/x64-windows/bin ${_system32})
file(GLOB _wine_dlls ${_wine_pe}/*.dll)
foreach(_dll IN LISTS _wine_dlls)
  get_filename_component(_name ${_dll} NAME)
  if(_name STREQUAL "zlib1.dll")
    file(CREATE_LINK ${_dll} ${_vcpkg}/x64-windows/bin/${_name} SYMBOLIC)
  else()
    file(CREATE_LINK ${_dll} ${_system32}/${_name} SYMBOLIC)
  endif()
endforeach()

execute_process(COMMAND ${CMAKE_COMMAND} -Wno-dev -S ${CMAKE_CURRENT_LIST_DIR}/fake-win32 -B ${WORK_DIR}/build
  -DFAKE_WINE_PE=${_wine_pe} -DFAKE_VCPKG_INSTALLED_DIR=${_vcpkg} -DFAKE_SYSTEM32=${_system32}
  -DFAKE_REPO_DIR=${REPO_DIR} RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "configuring fake-win32 with deploy.cmake failed (${_rc})")
endif()
set(_prefix ${WORK_DIR}/prefix)
execute_process(COMMAND ${CMAKE_COMMAND} --install ${WORK_DIR}/build --prefix ${_prefix}
  RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
message("${_out}${_err}")
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cmake --install with deploy.cmake's rules failed (${_rc})")
endif()
if(_err MATCHES "unresolved")
  message(FATAL_ERROR "deploy-runtime left DLLs unresolved")
endif()

file(GLOB _deployed RELATIVE ${_prefix}/bin ${_prefix}/bin/*)
list(SORT _deployed)
if(NOT _deployed STREQUAL "lectern.exe;zlib1.dll")
  message(FATAL_ERROR "bin/ holds '${_deployed}', expected 'lectern.exe;zlib1.dll'")
endif()
file(STRINGS ${_prefix}/qt-deploy.log _qt_deploy)
if(NOT _qt_deploy STREQUAL "lectern NO_COMPILER_RUNTIME=TRUE;lectern-cli NO_COMPILER_RUNTIME=TRUE")
  message(FATAL_ERROR "Qt deployment was asked for: '${_qt_deploy}'")
endif()
message(STATUS "OK: Qt deployment for both exes, then only the non-system DLL: ${_deployed}")
