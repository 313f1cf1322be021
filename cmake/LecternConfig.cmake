# One INTERFACE target carrying the project's language standard, warnings and sanitizer flags.
add_library(lectern_config INTERFACE)
target_compile_features(lectern_config INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)

if(MSVC)
  # MSVC: /W4 (its -Wall is /Wall, which also reports every header of the Windows SDK and STL);
  # /utf-8 because the sources are UTF-8 (comments and a few string literals) and the code page
  # of a Windows machine is not; /permissive- and /Zc:__cplusplus for standard C++ (Qt 6 asks
  # for both too). /EHsc is CMake's default.
  target_compile_options(lectern_config INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:/W4 /utf-8 /permissive- /Zc:__cplusplus /Zc:preprocessor>)
else()
  target_compile_options(lectern_config INTERFACE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wnon-virtual-dtor>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wshadow=local>)
endif()
if(WIN32)
  # <windows.h> must not define min/max macros (they break std::min) nor pull in all of Win32;
  # _CRT_SECURE_NO_WARNINGS: std::strerror, std::getenv and friends are fine as used here.
  target_compile_definitions(lectern_config INTERFACE
    NOMINMAX WIN32_LEAN_AND_MEAN _CRT_SECURE_NO_WARNINGS UNICODE _UNICODE)
endif()

# Qt code in app/ and ui/ must never convert const char* silently (see docs/style.md).
add_library(lectern_qt_config INTERFACE)
target_link_libraries(lectern_qt_config INTERFACE lectern_config)
target_compile_definitions(lectern_qt_config INTERFACE
  QT_NO_CAST_FROM_ASCII QT_NO_CAST_TO_ASCII QT_NO_URL_CAST_FROM_STRING
  QT_NO_CAST_FROM_BYTEARRAY QT_USE_QSTRINGBUILDER QT_NO_KEYWORDS)

if(LECTERN_SANITIZE AND MSVC)
  message(FATAL_ERROR "LECTERN_SANITIZE is for GCC and clang (MSVC has only /fsanitize=address)")
endif()
if(LECTERN_SANITIZE)
  set(_lectern_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_compile_options(lectern_config INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_lectern_san}>)
  target_link_options(lectern_config INTERFACE ${_lectern_san})
endif()
