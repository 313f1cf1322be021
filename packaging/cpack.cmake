# Installers: the CPack recipe for Linux (.deb, .rpm, .tar.gz) and the shared settings the Windows
# recipe (packaging/windows/, NSIS) builds on. Included at the end of the top-level CMakeLists.txt;
# `cmake --build <build> --target package` or `cpack --config <build>/CPackConfig.cmake`.
# One package, no components. The version is project(VERSION), the one place it is set.

if(UNIX AND NOT APPLE)
  include(${CMAKE_CURRENT_LIST_DIR}/linux/install.cmake)
endif()

set(CPACK_PACKAGE_NAME lectern)
set(CPACK_PACKAGE_VENDOR "The Lectern developers")
set(CPACK_PACKAGE_CONTACT "The Lectern developers <lectern-maintainers@users.noreply.github.com>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/lectern/lectern")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "desktop assistant for very long documents")
# Debian extended description: lines under 80 columns, paragraphs separated by an empty line
# (CPack indents them and turns the empty line into " .").
set(CPACK_PACKAGE_DESCRIPTION
"Lectern reads a long document (PDF, EPUB, HTML, Markdown, text) once
through a local RWKV-X language model, keeps what the model learned on
disk, and answers questions about it later without reading it again.
Answers cite the pages the model attended to.

Everything runs locally; a small demo model is included. The package
contains the desktop application (lectern) and the command-line tool
(lectern-cli).")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGE_INSTALL_DIRECTORY "Lectern")
set(CPACK_PACKAGE_EXECUTABLES "lectern;Lectern")
# A <artifact>.sha256 beside every package ("<hash>  <file name>", for sha256sum -c).
set(CPACK_PACKAGE_CHECKSUM SHA256)
# Release builds carry symbols; Debian policy (and lintian) want stripped binaries.
set(CPACK_STRIP_FILES ON)
set(CPACK_MONOLITHIC_INSTALL ON)

if(UNIX AND NOT APPLE)
  set(CPACK_GENERATOR "DEB;RPM;TGZ")
  set(CPACK_PACKAGE_FILE_NAME "lectern-${PROJECT_VERSION}-Linux-${CMAKE_SYSTEM_PROCESSOR}")

  # .deb: lectern_<version>_<arch>.deb; library dependencies computed by dpkg-shlibdeps from the
  # binaries. Qt loads its SQLite driver as a plugin, which shlibdeps cannot see: list it.
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "libqt6sql6-sqlite")
  # OCR of scanned pages needs Tesseract's English model; Qt's Wayland plugin avoids XWayland.
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "tesseract-ocr-eng, qt6-wayland")
  set(CPACK_DEBIAN_PACKAGE_SECTION text)
  set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
  set(CPACK_DEBIAN_PACKAGE_HOMEPAGE ${CPACK_PACKAGE_HOMEPAGE_URL})

  # .rpm: lectern-<version>-1.<arch>.rpm; library requirements from rpmbuild's autoreq (on
  # Fedora libQt6Core's package, qt6-qtbase, also holds the SQLite driver). Names are Fedora's.
  set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
  set(CPACK_RPM_PACKAGE_LICENSE "Apache-2.0")
  set(CPACK_RPM_PACKAGE_GROUP "Applications/Productivity")
  set(CPACK_RPM_PACKAGE_URL ${CPACK_PACKAGE_HOMEPAGE_URL})
  set(CPACK_RPM_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
  set(CPACK_RPM_PACKAGE_AUTOREQ ON)
  set(CPACK_RPM_PACKAGE_AUTOPROV OFF)
  set(CPACK_RPM_PACKAGE_SUGGESTS "tesseract-langpack-eng")
  # Directories that belong to the filesystem / hicolor-icon-theme / shared-mime-info packages:
  # owning them too would make the package conflict with those.
  set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /usr/share/applications /usr/share/metainfo /usr/share/mime /usr/share/mime/packages
    /usr/share/icons /usr/share/icons/hicolor /usr/share/icons/hicolor/scalable
    /usr/share/icons/hicolor/scalable/apps /usr/share/doc)
  foreach(_size 16 32 48 64 128 256)
    list(APPEND CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
      /usr/share/icons/hicolor/${_size}x${_size} /usr/share/icons/hicolor/${_size}x${_size}/apps)
  endforeach()

  # A CUDA build links the CUDA runtime statically and loads cuBLAS at run time
  # (kernels/cublas_api.cpp), so its packages depend on neither: they install and start on
  # machines without an NVIDIA driver or toolkit, and the CUDA backend asks for cuBLAS when used.
endif()

# Windows: the NSIS recipe and the deployment of Qt's and the other DLLs beside the executables.
if(WIN32)
  include(${CMAKE_CURRENT_LIST_DIR}/windows/nsis.cmake OPTIONAL)
  include(${CMAKE_CURRENT_LIST_DIR}/windows/deploy.cmake OPTIONAL)
endif()

include(CPack)
