#!/usr/bin/env python3
"""Rewrites a CUDA source (.cu) or header (.cuh), or a C++ file or header that uses the CUDA
runtime (the launchers' .cpp, kernels/model), into plain C++ for the CPU emulator cuda_emu.h.

Used at build time by tests/emu/CMakeLists.txt: `cuda_to_cpp.py IN OUT`. The rewrites:
- `#include <cuda_runtime.h>` becomes `#include "cuda_emu.h"`, <cuda_fp16.h> and <cuda_bf16.h>
  become "cuda_emu_fp16.h", <cublas_v2.h> becomes "cublas_emu.h", <mma.h> (warp matrix
  functions) becomes "cuda_emu_wmma.h" (in headers too, which is why the .cuh files are rewritten as well: the
  real CUDA headers can never be reached); any other CUDA header is refused, since the emulator
  has nothing behind it; a quoted include of a file next to the source ("cuda_model.h") is the
  project's own header, rewritten beside it by the build, and left as it is;
- `kernel<<<grid, block[, smem[, stream]]>>>(args)` becomes
  `::emu::Launch{dim3(grid), dim3(block), smem, stream}(kernel, args)`;
- `extern __shared__ [__align__(n)] T name[];` (dynamic shared memory) becomes
  `T* const name = static_cast<T*>(::emu::dynamic_shared_memory());`;
- inline PTX: only the one pattern the kernels use, gemv.cu's 16-byte non-coherent weight load
  `asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), .. "=r"(v.w)
  : "l"(__cvta_generic_to_global(p)))`, becomes `v = ::emu::load_global_nc(p);` (the cache hint
  means nothing on the host; the emulator checks the 16-byte alignment the instruction needs),
  and grid_dependency.cuh's `griddepcontrol.wait`, `griddepcontrol.launch_dependents` and
  `prefetch.global.L2` statements, which become a comment (launches run one after another here;
  there is no L2). Any other asm is an error: it must be taught here explicitly, never guessed;
- a static `__shared__ [__align__(n)] T name[dims];` declaration (one variable, a plain or
  `ns::`-qualified type) is followed on its line by `::emu::fresh_shared(&name, sizeof(name));`,
  which refills the variable with 0xFF bytes for each block (a read of what the block never wrote
  shows as NaN); any other static __shared__ declaration is an error;
- a kernel declared with `__launch_bounds__(max_threads[, min_blocks])` gets
  `::emu::check_launch_bounds(int(max_threads));` right after the `{` of its body (template
  parameters are in scope there): CUDA refuses a launch of more threads per block than the bound,
  and ptxas may have used more registers than a larger block could have, so the emulator stops it;
- a kernel with a `__restrict__` pointer parameter gets `::emu::check_restrict(...)` (in its
  first thread) after the bounds check, naming its pointer parameters: a launch passing one
  address as a `__restrict__` pointer and as another pointer, one of them not to const, stops
  (nvcc may read a const `__restrict__` input through the non-coherent cache, or reorder its loads
  around the stores, so a kernel run in place over such a parameter may be wrong on a GPU and
  right here);
- `#pragma unroll` lines are blanked (GCC warns about the unknown pragma).
Line numbers are kept (a `#line` directive names the original file), so compiler messages,
__FILE__/__LINE__ in error values and debuggers point at the kernel source.
Comments and string literals are skipped when looking for launches. Anything it cannot parse is
an error (exit status 1) rather than a silently wrong file.
"""
import os
import re
import sys

CUDA_HEADER = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]([^>"]+)[>"]', re.M)
EMULATED_HEADERS = {"cuda_runtime.h": "cuda_emu.h", "cuda_fp16.h": "cuda_emu_fp16.h",
                    "cuda_bf16.h": "cuda_emu_fp16.h", "cublas_v2.h": "cublas_emu.h",
                    "mma.h": "cuda_emu_wmma.h"}
REFUSED_HEADERS = re.compile(r'^(cuda[\w.]*\.h|cub/.*|cooperative_groups.*|'
                             r'device_launch_parameters\.h|cuda/.*|thrust/.*)$')
PRAGMA_UNROLL = re.compile(r'^[ \t]*#[ \t]*pragma[ \t]+unroll\b.*$', re.M)
IDENTIFIER = re.compile(r'[A-Za-z_][A-Za-z0-9_]*$')
EXTERN_SHARED = re.compile(r'extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?'
                           r'([A-Za-z_]\w*)\s+([A-Za-z_]\w*)\s*\[\s*\]\s*;')
NC_LOAD = re.compile(r'asm\s*\(\s*"ld\.global\.nc\.L1::no_allocate\.v4\.u32 '
                     r'\{%0, %1, %2, %3\}, \[%4\];"\s*'
                     r':\s*"=r"\((\w+)\.x\),\s*"=r"\(\1\.y\),\s*"=r"\(\1\.z\),\s*"=r"\(\1\.w\)\s*'
                     r':\s*"l"\(\s*__cvta_generic_to_global\(\s*(\w+)\s*\)\s*\)\s*\)\s*;')
# grid_dependency.cuh's three hints, each exactly as written there: the emulator runs a stream's
# launches one after another (a prior grid has always finished) and has no L2 to warm.
ORDERING_HINTS = re.compile(r'asm\s+volatile\s*\(\s*(?:"griddepcontrol\.wait;"\s*:::\s*"memory"'
                            r'|"griddepcontrol\.launch_dependents;"\s*:::'
                            r'|"prefetch\.global\.L2 \[%0\];"\s*::\s*"l"\(\s*'
                            r'__cvta_generic_to_global\(\s*\w+\s*\)\s*\))\s*\)\s*;')
ASM = re.compile(r'\b(asm|__asm__|__asm)\b')
STATIC_SHARED = re.compile(r'(?<!extern )__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?'
                           r'[A-Za-z_][\w:]*\s+([A-Za-z_]\w*)\s*(?:\[[^\];]+\]\s*)*;')


class TransformError(Exception):
    pass


def code_mask(text):
    """True for each character that is code (not inside a comment, string or char literal)."""
    mask = [True] * len(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise TransformError("unterminated comment")
            end += 2
        elif c in "\"'":
            if c == "'" and i > 0 and re.match(r"[0-9A-Fa-f]", text[i - 1]) and \
                    re.match(r"[0-9A-Fa-f]", text[i + 1:i + 2]):
                i += 1  # digit separator (1'000), not a character literal
                continue
            end = i + 1
            while end < n and text[end] != c:
                end += 2 if text[end] == "\\" else 1
            if end >= n:
                raise TransformError("unterminated literal")
            end += 1
        else:
            i += 1
            continue
        for j in range(i, end):
            mask[j] = False
        i = end
    return mask


def line_of(text, pos):
    return text.count("\n", 0, pos) + 1


def kernel_name_start(text, launch_pos):
    """Start of the kernel expression before `<<<`: an identifier, `ns::name`, `name<args>`."""
    i = launch_pos
    while i > 0 and text[i - 1] in " \t":
        i -= 1
    end = i
    if i > 0 and text[i - 1] == ">":  # template arguments: walk back to the matching `<`
        depth = 0
        while i > 0:
            i -= 1
            if text[i] == ">":
                depth += 1
            elif text[i] == "<":
                depth -= 1
                if depth == 0:
                    break
        if depth != 0:
            raise TransformError(f"line {line_of(text, launch_pos)}: unbalanced template arguments")
    while True:
        m = re.search(r'[A-Za-z_][A-Za-z0-9_]*$', text[:i])
        if not m:
            break
        i = m.start()
        if text[max(0, i - 2):i] == "::":
            i -= 2
        else:
            break
    if i == end or not re.match(r'(::)?[A-Za-z_]', text[i:end]):
        raise TransformError(f"line {line_of(text, launch_pos)}: no kernel name before <<<")
    return i


def split_config(text, start, mask):
    """The comma-separated expressions between `<<<` (ending at start) and the matching `>>>`."""
    parts, depth, i, part_start = [], 0, start, start
    while i < len(text):
        if mask[i]:
            c = text[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
            elif c == "," and depth == 0:
                parts.append(text[part_start:i].strip())
                part_start = i + 1
            elif depth == 0 and text.startswith(">>>", i):
                parts.append(text[part_start:i].strip())
                return parts, i + 3
        i += 1
    raise TransformError(f"line {line_of(text, start)}: no >>> after <<<")


def rewrite_launches(text):
    out, pos, count = [], 0, 0
    mask = code_mask(text)
    for m in re.finditer(r"<<<", text):
        at = m.start()
        if not mask[at] or at < pos:
            continue
        name_start = kernel_name_start(text, at)
        kernel = text[name_start:at].strip()
        config, after = split_config(text, at + 3, mask)
        if not 2 <= len(config) <= 4 or any(not p for p in config):
            raise TransformError(f"line {line_of(text, at)}: launch needs 2 to 4 configuration "
                                 f"arguments, got {config}")
        smem = config[2] if len(config) > 2 else "0"
        stream = config[3] if len(config) > 3 else "nullptr"
        paren = re.compile(r"\s*\(").match(text, after)
        if not paren:
            raise TransformError(f"line {line_of(text, at)}: no argument list after >>>")
        args_empty = re.compile(r"\s*\)").match(text, paren.end()) is not None
        replaced = text[name_start:paren.end()]
        launch = (f"::emu::Launch{{dim3({config[0]}), dim3({config[1]}), std::size_t({smem}), "
                  f"{stream}}}({kernel}{'' if args_empty else ', '}")
        # Same number of lines as the launch it replaces, so later lines keep their numbers.
        launch = launch.replace("\n", " ") + "\n" * replaced.count("\n")
        out.append(text[pos:name_start])
        out.append(launch)
        pos = paren.end()
        count += 1
    out.append(text[pos:])
    return "".join(out), count


def rewrite_includes(text, source_dir):
    def replace(m):
        header = m.group(1)
        if header in EMULATED_HEADERS:
            return f'#include "{EMULATED_HEADERS[header]}"'
        # A project header next to the source ("cuda_model.h" in kernels/model) is rewritten
        # beside it by the build, not a CUDA toolkit header.
        quoted = '"' in m.group(0)
        if quoted and os.path.isfile(os.path.join(source_dir, header)):
            return m.group(0)
        if REFUSED_HEADERS.match(header):
            raise TransformError(f"line {line_of(text, m.start())}: <{header}> is not emulated")
        return m.group(0)
    return CUDA_HEADER.sub(replace, text)


def rewrite_code(text, pattern, replacement):
    """pattern's matches that start in code (not in a comment or literal) replaced by
    replacement(match), padded with newlines to the number of lines they had."""
    mask = code_mask(text)

    def replace(m):
        if not mask[m.start()]:
            return m.group(0)
        return replacement(m) + "\n" * m.group(0).count("\n")
    return pattern.sub(replace, text)


def rewrite_shared_and_asm(text):
    text = rewrite_code(text, NC_LOAD,
                        lambda m: f"{m.group(1)} = ::emu::load_global_nc({m.group(2)});")
    text = rewrite_code(text, ORDERING_HINTS, lambda m: "/* ordering hint: nothing to emulate */")
    text = rewrite_code(text, EXTERN_SHARED,
                        lambda m: f"{m.group(1)}* const {m.group(2)} = static_cast<{m.group(1)}*>("
                                  f"::emu::dynamic_shared_memory());")
    text = rewrite_code(text, STATIC_SHARED,
                        lambda m: f"{m.group(0)} ::emu::fresh_shared(&{m.group(1)}, "
                                  f"sizeof({m.group(1)}));")
    mask = code_mask(text)
    for m in re.finditer(r'\b__shared__\b', text):
        declared = STATIC_SHARED.match(text, m.start())
        if mask[m.start()] and not (declared and text.startswith(" ::emu::fresh_shared",
                                                                  declared.end())):
            raise TransformError(f"line {line_of(text, m.start())}: a static __shared__ declaration "
                                 "the rewrite does not recognise (one variable, `T name[dims];`)")
    for pattern, what in ((ASM, "inline assembly other than gemv.cu's weight load and the ordering hints"),
                          (re.compile(r'\bextern\s+__shared__'), "unrecognised extern __shared__")):
        for m in pattern.finditer(text):
            if mask[m.start()]:
                raise TransformError(f"line {line_of(text, m.start())}: {what} is not emulated")
    return text


def balanced_end(text, open_pos, mask):
    """Index just past the `)` matching the `(` at open_pos (code characters only)."""
    depth = 0
    for i in range(open_pos, len(text)):
        if not mask[i]:
            continue
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise TransformError(f"line {line_of(text, open_pos)}: unbalanced parentheses")


def top_level_split(expr):
    parts, depth, start = [], 0, 0
    for i, c in enumerate(expr):
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(expr[start:i].strip())
            start = i + 1
    parts.append(expr[start:].strip())
    return parts


POINTER_PARAM = re.compile(r'^(?P<const>const\b)?[\w\s:<>]*?\*\s*(?P<restrict>__restrict__\s+)?'
                           r'(?:const\s+)?(?P<name>[A-Za-z_]\w*)$')


def restrict_check(params):
    """The check_restrict call for a kernel's parameter list, or "" when none is __restrict__."""
    pointers = []
    for param in top_level_split(params):
        m = POINTER_PARAM.match(" ".join(param.split()))
        if m:
            pointers.append((m.group("name"), bool(m.group("restrict")), bool(m.group("const"))))
        elif "__restrict__" in param:
            raise TransformError(f"a __restrict__ parameter not parsed here: {param}")
    if not any(r for _, r, _ in pointers) or len(pointers) < 2:
        return ""
    items = ", ".join(f'{{"{n}", (const void*)({n}), {str(r).lower()}, {str(c).lower()}}}'
                      for n, r, c in pointers)
    return f" if (::emu::first_thread_of_launch()) ::emu::check_restrict({{{items}}});"


def rewrite_kernel_entries(text):
    """Each kernel body starts with its launch checks: the block size against __launch_bounds__,
    the pointer arguments against __restrict__ (see the module docstring)."""
    mask = code_mask(text)
    inserts = []  # (position after the body's `{`, code)
    for m in re.finditer(r"\b__global__\b", text):
        if not mask[m.start()]:
            continue
        code, i, depth, params_open = "", m.end(), 0, None
        bounds = re.compile(r"\s*void\s+__launch_bounds__\s*\(").match(text, m.end())
        if bounds:
            args_end = balanced_end(text, bounds.end() - 1, mask)
            args = text[bounds.end():args_end - 1]
            if "<" in args or ">" in args:
                raise TransformError(f"line {line_of(text, m.start())}: a comparison or template "
                                     "in __launch_bounds__ arguments is not parsed here")
            code += f" ::emu::check_launch_bounds(int({top_level_split(args)[0]}));"
            i = args_end
        while i < len(text):
            c = text[i]
            if mask[i]:
                if c == "(":
                    if depth == 0:
                        params_open = i
                    depth += 1
                elif c == ")":
                    depth -= 1
                elif depth == 0 and c == ";":
                    break  # a declaration without a body
                elif depth == 0 and c == "{":
                    if params_open is None:
                        raise TransformError(f"line {line_of(text, m.start())}: no parameters")
                    params_end = balanced_end(text, params_open, mask)
                    code += restrict_check(text[params_open + 1:params_end - 1])
                    if code:
                        inserts.append((i + 1, code))
                    break
            i += 1
    for pos, code in reversed(inserts):
        text = text[:pos] + code + text[pos:]
    return text


def transform(text, source_path):
    text = PRAGMA_UNROLL.sub("", text)
    text = rewrite_includes(text, os.path.dirname(source_path))
    text = rewrite_shared_and_asm(text)
    text = rewrite_kernel_entries(text)
    text, _ = rewrite_launches(text)
    name = source_path.replace("\\", "/")
    return (f"// Generated by tests/emu/cuda_to_cpp.py from {name}; edit that file instead.\n"
            f'#line 1 "{name}"\n' + text)


def main(argv):
    if len(argv) != 3:
        print("usage: cuda_to_cpp.py IN.cu|IN.cuh OUT", file=sys.stderr)
        return 2
    source, target = argv[1], argv[2]
    with open(source, encoding="utf-8") as f:
        text = f.read()
    try:
        result = transform(text, os.path.abspath(source))
    except TransformError as e:
        print(f"{source}: {e}", file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "w", encoding="utf-8") as f:
        f.write(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
