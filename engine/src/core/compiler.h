// Compiler-specific spellings the engine needs, in one place, so that the sources build with
// GCC, clang and MSVC alike (private to the engine).
//
// LECTERN_ALWAYS_INLINE: force-inline a small hot helper. GCC/clang take [[gnu::always_inline]];
// MSVC warns about unknown attribute namespaces (C5030) and its __forceinline cannot follow
// `inline` without a warning (C4141), so there the macro is empty and /O2 decides (it inlines
// these few-line helpers anyway).
#pragma once

#if defined(__GNUC__) || defined(__clang__)
#define LECTERN_ALWAYS_INLINE [[gnu::always_inline]]
#else
#define LECTERN_ALWAYS_INLINE
#endif
