# Install-time half of deploy.cmake: copies the DLLs that the installed exes and the DLLs already
# deployed (Qt and its plugins) import, found in LECTERN_DEPLOY_DIRS, into <prefix>/<bindir>.
# Windows' own DLLs are left out. Runs inside `cmake --install` (and so inside cpack), or alone:
#   cmake -DLECTERN_DEPLOY_PREFIX=... -DLECTERN_DEPLOY_DIRS="a;b" -DLECTERN_DEPLOY_TOOL=objdump
#         -DLECTERN_DEPLOY_COMMAND=/usr/bin/objdump -P deploy-runtime.cmake
# (tests/packaging-windows/ runs it that way on Linux against wine's PE files).
if(NOT LECTERN_DEPLOY_BINDIR)
  set(LECTERN_DEPLOY_BINDIR bin)
endif()
set(_bin "${LECTERN_DEPLOY_PREFIX}/${LECTERN_DEPLOY_BINDIR}")

# Read PE import tables whatever the host is (also lets the check run on Linux).
set(CMAKE_GET_RUNTIME_DEPENDENCIES_PLATFORM "windows+pe")
set(CMAKE_GET_RUNTIME_DEPENDENCIES_TOOL "${LECTERN_DEPLOY_TOOL}")
if(LECTERN_DEPLOY_COMMAND)
  set(CMAKE_GET_RUNTIME_DEPENDENCIES_COMMAND "${LECTERN_DEPLOY_COMMAND}")
endif()

file(GLOB _exes "${_bin}/*.exe")
# Every DLL installed so far: Qt's, its plugins (loaded at run time, so no exe imports them) and,
# on a second run, ours; their imports count too (qsqlite.dll needs sqlite3.dll, etc.).
file(GLOB_RECURSE _dlls "${LECTERN_DEPLOY_PREFIX}/*.dll")
if(NOT _exes)
  message(FATAL_ERROR "deploy-runtime: no .exe in ${_bin}")
endif()

file(GET_RUNTIME_DEPENDENCIES
  EXECUTABLES ${_exes}
  LIBRARIES ${_dlls}
  DIRECTORIES ${LECTERN_DEPLOY_DIRS}
  RESOLVED_DEPENDENCIES_VAR _resolved
  UNRESOLVED_DEPENDENCIES_VAR _unresolved
  CONFLICTING_DEPENDENCIES_PREFIX _conflict
  # API sets are resolved by the loader, never files to ship.
  PRE_EXCLUDE_REGEXES "^[Aa][Pp][Ii]-[Mm][Ss]-" "^[Ee][Xx][Tt]-[Mm][Ss]-"
  # Windows' own DLLs (System32, SysWOW64, WinSxS) stay where they are.
  POST_EXCLUDE_REGEXES "^[A-Za-z]:[/\\\\][Ww][Ii][Nn][Dd][Oo][Ww][Ss][/\\\\]"
                       "[/\\\\][Ss]ystem32[/\\\\]" "[/\\\\][Ss]ys[Ww][Oo][Ww]64[/\\\\]")

# The same DLL name in two search folders (say vcpkg's and Qt's bin): the first folder wins.
foreach(_name IN LISTS _conflict_FILENAMES)
  list(GET _conflict_${_name} 0 _first)
  message(STATUS "deploy-runtime: ${_name} found in several folders, using ${_first}")
  list(APPEND _resolved "${_first}")
endforeach()

set(_copied 0)
foreach(_dll IN LISTS _resolved)
  get_filename_component(_dir "${_dll}" DIRECTORY)
  get_filename_component(_name "${_dll}" NAME)
  # Already deployed (beside the exe or among the plugins).
  file(REAL_PATH "${_dir}" _dir_real)
  file(REAL_PATH "${LECTERN_DEPLOY_PREFIX}" _prefix_real)
  string(FIND "${_dir_real}/" "${_prefix_real}/" _at)
  if(_at EQUAL 0)
    continue()
  endif()
  file(INSTALL "${_dll}" DESTINATION "${_bin}")
  math(EXPR _copied "${_copied} + 1")
endforeach()
message(STATUS "deploy-runtime: ${_copied} DLLs copied to ${_bin}")

# Unresolved imports of Windows DLLs that are not present here (e.g. on a build machine that lacks
# a system component) are reported, not fatal; LECTERN_DEPLOY_STRICT makes them fatal.
if(_unresolved)
  list(JOIN _unresolved ", " _list)
  if(LECTERN_DEPLOY_STRICT)
    message(FATAL_ERROR "deploy-runtime: unresolved DLLs: ${_list}")
  endif()
  message(WARNING "deploy-runtime: unresolved DLLs (not copied): ${_list}")
endif()
