#!/usr/bin/env python3
"""List Rust functions spanning more than N lines (default 120), longest first.

Usage: python3 .ci/long_fns.py [N] [DIR...]   (default DIR: src)
A function marked "(commented)" has a comment "long on purpose" just above it saying
why (issue 18: no function over ~120 lines without one). Counts from the `fn` line to
its closing brace; comments, strings and char literals are skipped when matching braces.
"""
import re, sys, os
N = int(sys.argv[1]) if len(sys.argv) > 1 else 120
roots = sys.argv[2:] or ['src']
FN = re.compile(r'^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+"[^"]*"\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)')

def strip(text):
    """Replace comments/strings/char literals by spaces, keep newlines."""
    out = []; i = 0; n = len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i); j = n if j < 0 else j
            out.append(' ' * (j - i)); i = j; continue
        if text.startswith('/*', i):
            depth = 0; j = i
            while j < n:
                if text.startswith('/*', j): depth += 1; j += 2; continue
                if text.startswith('*/', j):
                    depth -= 1; j += 2
                    if depth == 0: break
                    continue
                j += 1
            out.append(re.sub(r'[^\n]', ' ', text[i:j])); i = j; continue
        m = re.match(r'b?r(#*)"', text[i:i+10])
        if m and (i == 0 or not (text[i-1].isalnum() or text[i-1] == '_')):
            hashes = m.group(1); end = '"' + hashes
            j = text.find(end, i + m.end()); j = n if j < 0 else j + len(end)
            out.append(re.sub(r'[^\n]', ' ', text[i:j])); i = j; continue
        if c == '"' :
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == '\\' else 1
            j += 1
            out.append(re.sub(r'[^\n]', ' ', text[i:j])); i = j; continue
        if c == "'":
            m = re.match(r"'(\\.[^']*|[^'\\])'", text[i:i+12])
            if m:
                out.append(' ' * m.end()); i += m.end(); continue
        out.append(c); i += 1
    return ''.join(out)

res = []
for root in roots:
    for dp, _, fs in os.walk(root):
        for f in fs:
            if not f.endswith('.rs'): continue
            p = os.path.join(dp, f)
            raw = open(p).read(); s = strip(raw)
            lines = s.split('\n'); rawlines = raw.split('\n')
            offs = [0]
            for l in lines: offs.append(offs[-1] + len(l) + 1)
            for ln, l in enumerate(lines):
                m = FN.match(l)
                if not m: continue
                # find '{' or ';' after fn
                k = offs[ln] + m.end()
                depth_p = 0
                while k < len(s):
                    ch = s[k]
                    if ch in '(<[': depth_p += 1
                    elif ch in ')>]': depth_p -= 1
                    elif ch == ';' and depth_p <= 0: k = -1; break
                    elif ch == '{' and depth_p <= 0: break
                    k += 1
                if k < 0 or k >= len(s): continue
                d = 0; j = k
                while j < len(s):
                    if s[j] == '{': d += 1
                    elif s[j] == '}':
                        d -= 1
                        if d == 0: break
                    j += 1
                end_ln = s.count('\n', 0, j)
                length = end_ln - ln + 1
                if length > N:
                    # a "why long" comment: a line just above fn (doc or attr) containing 'long'
                    above = []
                    q = ln - 1
                    while q >= 0 and (rawlines[q].strip().startswith(('///','#[','//'))):
                        above.append(rawlines[q]); q -= 1
                    why = any("long on purpose" in a.lower() for a in above)
                    res.append((length, p, ln + 1, m.group(1), why))
for length, p, ln, name, why in sorted(res, reverse=True):
    print(f"{length:5d}  {p}:{ln}  {name}{'  (commented)' if why else ''}")
