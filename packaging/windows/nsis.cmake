# The Windows installer recipe (CPack NSIS generator, CMake >= 3.25): included by
# packaging/cpack.cmake before include(CPack) on WIN32, and by packaging/windows/stub/ on any
# system to test the recipe with makensis. The common settings (name, version, install folder
# "Lectern", CPACK_PACKAGE_EXECUTABLES "lectern;Lectern", checksums) come from cpack.cmake.
#
# What the installer does (details in NSIS.template.in and lectern.nsh):
#  - per-user (HKCU, %LOCALAPPDATA%\Programs\Lectern, no admin rights) or per-machine (HKLM,
#    Program Files\Lectern) install, chosen on a page or with /CurrentUser or /AllUsers;
#  - Start-menu shortcut; optional desktop shortcut (a component, or /DESKTOP when silent);
#  - .lectern session files open in Lectern, and Lectern is offered in "Open with" for PDF/EPUB;
#  - an uninstall entry in Settings > Apps; upgrading removes the previous version first.
#
# User data is never in the install folder and the uninstaller never removes it: the library
# database, document stores and downloaded models live under QStandardPaths::AppLocalDataLocation
# (app/library.cpp, app/librarycontroller.cpp, ui/settingsdialog.cpp), which on Windows is
# %LOCALAPPDATA%\Lectern\Lectern (organization and application name "Lectern", ui/main.cpp), and the
# settings in the registry under HKCU\Software\Lectern\Lectern (QSettings).

# Our NSIS.template.in replaces CMake's (CPack looks the template up in CMAKE_MODULE_PATH first):
# CMake's always asks for admin rights and writes HKLM, so it cannot install per user. The
# install folder comes from MultiUser.nsh (Program Files or %LOCALAPPDATA%\Programs + "Lectern"),
# not CPACK_NSIS_INSTALL_ROOT. The template installs the whole tree as one piece: if CPack
# components are ever added, keep CPACK_MONOLITHIC_INSTALL on for NSIS (the template has no
# component sections).
list(PREPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")
set(CPACK_LECTERN_NSIS_DIR "${CMAKE_CURRENT_LIST_DIR}")

set(CPACK_NSIS_PACKAGE_NAME "Lectern")
set(CPACK_NSIS_DISPLAY_NAME "Lectern")
# Without a version in it (CPack's default has one), so an upgrade finds the previous install.
set(CPACK_PACKAGE_INSTALL_REGISTRY_KEY "Lectern")
set(CPACK_NSIS_UNINSTALL_NAME "Uninstall")
set(CPACK_NSIS_ENABLE_UNINSTALL_BEFORE_INSTALL ON)
# Not on PATH: CMake's PATH editing can truncate a long PATH; lectern-cli is in <install>\bin.
set(CPACK_NSIS_MODIFY_PATH OFF)
set(CPACK_NSIS_EXECUTABLES_DIRECTORY "bin")
# Apache-2.0 asks for no acceptance, so no license page.
set(CPACK_NSIS_IGNORE_LICENSE_PAGE ON)
set(CPACK_NSIS_MANIFEST_DPI_AWARE ON)
set(CPACK_NSIS_COMPRESSOR "/SOLID lzma")
# Not CPACK_NSIS_BRANDING_TEXT: CPack adds /TRIMLEFT to it, which makensis on Linux rejects.
# Single quotes: CPackConfig.cmake does not escape double quotes.
set(CPACK_NSIS_DEFINES "  BrandingText 'Lectern ${PROJECT_VERSION}'")
set(CPACK_NSIS_MUI_ICON "${CMAKE_CURRENT_LIST_DIR}/lectern.ico")
set(CPACK_NSIS_MUI_UNIICON "${CMAKE_CURRENT_LIST_DIR}/lectern.ico")
# Four backslashes: CPackConfig.cmake is read back as CMake code, which eats one level.
set(CPACK_NSIS_INSTALLED_ICON_NAME "share\\\\lectern\\\\lectern.ico")
# Used by NSIS.template.in / lectern.nsh (CPack passes every CPACK_* variable to the template).
set(CPACK_LECTERN_NSIS_APP_EXE "bin\\\\lectern.exe")
set(CPACK_LECTERN_NSIS_APP_EXE_NAME "lectern.exe")
set(CPACK_LECTERN_NSIS_APP_ICON "share\\\\lectern\\\\lectern.ico")
# The .lectern file association (macros in lectern.nsh); removed again by the uninstaller.
set(CPACK_NSIS_EXTRA_INSTALL_COMMANDS "!insertmacro LecternRegisterFileType")
set(CPACK_NSIS_EXTRA_UNINSTALL_COMMANDS "!insertmacro LecternUnregisterFileType")
# The uninstall entry's Publisher, links and contact, from cpack.cmake's common settings.
if(NOT CPACK_PACKAGE_VENDOR)
  set(CPACK_PACKAGE_VENDOR "Lectern")
endif()
if(CPACK_PACKAGE_HOMEPAGE_URL)
  set(CPACK_NSIS_URL_INFO_ABOUT "${CPACK_PACKAGE_HOMEPAGE_URL}")
  set(CPACK_NSIS_HELP_LINK "${CPACK_PACKAGE_HOMEPAGE_URL}")
endif()
if(CPACK_PACKAGE_CONTACT)
  set(CPACK_NSIS_CONTACT "${CPACK_PACKAGE_CONTACT}")
endif()
if(NOT CPACK_GENERATOR)
  set(CPACK_GENERATOR NSIS)
endif()

# The icon, installed for the uninstall entry and the .lectern file type (lectern.exe has no icon
# resource yet; when it has one, point both at "bin\\lectern.exe" again). "share" as in
# CPACK_LECTERN_NSIS_APP_ICON (GNUInstallDirs' CMAKE_INSTALL_DATADIR on Windows, too).
install(FILES "${CMAKE_CURRENT_LIST_DIR}/lectern.ico" DESTINATION share/lectern)
