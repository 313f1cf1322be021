# One INTERFACE target carrying the project's language standard, warnings and sanitizer flags.
add_library(lectern_config INTERFACE)
target_compile_features(lectern_config INTERFACE cxx_std_20)
set(CMAKE_CXX_EXTENSIONS OFF)

target_compile_options(lectern_config INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wnon-virtual-dtor>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wshadow=local>)

# Qt code in app/ and ui/ must never convert const char* silently (see docs/style.md).
add_library(lectern_qt_config INTERFACE)
target_link_libraries(lectern_qt_config INTERFACE lectern_config)
target_compile_definitions(lectern_qt_config INTERFACE
  QT_NO_CAST_FROM_ASCII QT_NO_CAST_TO_ASCII QT_NO_URL_CAST_FROM_STRING
  QT_NO_CAST_FROM_BYTEARRAY QT_USE_QSTRINGBUILDER QT_NO_KEYWORDS)

if(LECTERN_SANITIZE)
  set(_lectern_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_compile_options(lectern_config INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${_lectern_san}>)
  target_link_options(lectern_config INTERFACE ${_lectern_san})
endif()
