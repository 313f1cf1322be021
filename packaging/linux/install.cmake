# Linux install rules (included by packaging/cpack.cmake): the desktop integration
# (freedesktop.org .desktop entry, AppStream metainfo, the MIME type of .lectern session files,
# hicolor icons), the man pages, and the Debian-style copyright and changelog in share/doc/lectern.
# Debian's dpkg triggers (desktop-file-utils, shared-mime-info, hicolor-icon-theme) and Fedora's
# file triggers refresh the caches, so the packages need no maintainer scripts.
include(GNUInstallDirs)

set(LECTERN_APP_ID io.github.lectern.Lectern)
set(_linux ${CMAKE_CURRENT_LIST_DIR})

install(FILES ${_linux}/${LECTERN_APP_ID}.desktop
        DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
install(FILES ${_linux}/${LECTERN_APP_ID}.metainfo.xml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
install(FILES ${_linux}/${LECTERN_APP_ID}.mime.xml
        DESTINATION ${CMAKE_INSTALL_DATADIR}/mime/packages RENAME ${LECTERN_APP_ID}.xml)

install(FILES ${_linux}/icons/${LECTERN_APP_ID}.svg
        DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
# The PNG sizes are committed, rendered from the SVG by tools/render-icons.sh.
foreach(_size 16 32 48 64 128 256)
  install(FILES ${_linux}/icons/${_size}/${LECTERN_APP_ID}.png
          DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/${_size}x${_size}/apps)
endforeach()

# Debian policy wants man pages and the changelog compressed with gzip -9n (no name, no time).
find_program(LECTERN_GZIP gzip)
function(lectern_install_gzipped source destination)
  get_filename_component(_name ${source} NAME)
  set(_gz ${CMAKE_BINARY_DIR}/packaging/${_name}.gz)
  execute_process(COMMAND ${LECTERN_GZIP} -9nc INPUT_FILE ${source} OUTPUT_FILE ${_gz}
                  RESULT_VARIABLE _failed)
  if(_failed)
    message(FATAL_ERROR "gzip ${source} failed")
  endif()
  install(FILES ${_gz} DESTINATION ${destination})
endfunction()

# share/doc/<package name> (GNUInstallDirs' DOCDIR would be share/doc/Lectern).
set(_doc ${CMAKE_INSTALL_DATADIR}/doc/lectern)
install(FILES ${_linux}/copyright DESTINATION ${_doc})
if(LECTERN_GZIP)
  # configure_file reruns this when the pages change.
  foreach(_page lectern.1 lectern-cli.1)
    configure_file(${_linux}/man/${_page} ${CMAKE_BINARY_DIR}/packaging/${_page} COPYONLY)
    lectern_install_gzipped(${CMAKE_BINARY_DIR}/packaging/${_page} ${CMAKE_INSTALL_MANDIR}/man1)
  endforeach()
  # A native package's changelog: one entry for the version being built (the release notes
  # proper are in the metainfo). string(TIMESTAMP) honours SOURCE_DATE_EPOCH.
  string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)
  file(WRITE ${CMAKE_BINARY_DIR}/packaging/changelog
    "lectern (${PROJECT_VERSION}) stable; urgency=medium\n\n"
    "  * Lectern ${PROJECT_VERSION}; release notes in\n"
    "    /usr/share/metainfo/${LECTERN_APP_ID}.metainfo.xml.\n\n"
    " -- The Lectern developers <lectern-maintainers@users.noreply.github.com>  ${_date}\n")
  lectern_install_gzipped(${CMAKE_BINARY_DIR}/packaging/changelog ${_doc})
endif()
