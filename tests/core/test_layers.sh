#!/bin/sh
# The core's modules form no dependency cycle, and the layers point one way:
#   tools -> study (core/study.c loads, core/study_run.c runs)
#         -> replay, instance, report, journal, ... (core/*.c behind core/*.h)
#         -> include/hilnas (the public headers)
# A module is a core header core/NAME.h with the files that implement it: core/NAME.c and
# core/NAME_*.c (core/study_run.c belongs to study) unless those have a header of their own;
# a core/*.c without a header (config.c, options.c, ...) implements a public header and is a
# module of its own. Module A depends on B when a file of A includes core/B.h. The graph of
# those edges goes through tsort(1), which refuses a cycle; a graph with a planted cycle must
# be refused too, so that this test cannot pass by not looking.
set -u
: "${abs_top_srcdir:?}"
# the paths below are relative to src/ (the core is src/core/)
cd "$abs_top_srcdir/src" || exit 1
fail=0

# module of a core file (path without directory and extension)
module() {
    f=$1
    [ -f "core/$f.h" ] && { echo "$f"; return; }
    p=$f
    while case $p in *_*) true ;; *) false ;; esac; do
        p=${p%_*}
        [ -f "core/$p.h" ] && { echo "$p"; return; }
    done
    echo "$f"
}

edges=$(mktemp) || exit 1
trap 'rm -f "$edges"' EXIT
n_files=0
for file in core/*.c core/*.h; do
    n_files=$((n_files + 1))
    base=${file#core/}
    from=$(module "${base%.*}")
    echo "$from $from" >> "$edges" # every module is a node, even one without edges
    for inc in $(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"core/\([A-Za-z0-9_]*\)\.h".*|\1|p' "$file"); do
        to=$(module "$inc")
        [ "$to" = "$from" ] || echo "$from $to" >> "$edges"
    done
done
[ "$n_files" -ge 20 ] || { echo "FAIL: only $n_files files found under core/" >&2; exit 1; }

if ! order=$(tsort < "$edges" 2>&1); then
    echo "FAIL: the modules of core/ depend on each other in a cycle:" >&2
    echo "$order" | grep "^tsort" >&2
    fail=1
fi

# the layers named in core/study.h: the lower modules never reach up to the study or tools
for m in replay instance report journal; do
    [ -f "core/$m.h" ] || { echo "FAIL: core/$m.h is missing" >&2; fail=1; continue; }
    if grep -q "^$m study$" "$edges"; then
        echo "FAIL: core module '$m' includes core/study.h (it belongs below the study)" >&2
        fail=1
    fi
done
bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"tools/' core/*.c core/*.h)
if [ -n "$bad" ]; then
    echo "FAIL: the core includes the command line's headers:" >&2
    echo "$bad" >&2
    fail=1
fi
# signal handlers are the command line's business (the library offers hn_study_stop())
bad=$(grep -nE '\b(sigaction|signal)[[:space:]]*\(' core/*.c)
if [ -n "$bad" ]; then
    echo "FAIL: the core installs signal handlers (tools/ does, calling hn_study_stop()):" >&2
    echo "$bad" >&2
    fail=1
fi
# launchers are the executors' business (an executor's launched() and local_processes())
bad=$(grep -nE '"(OMPI|PMIX|PMI|MPI|SLURM)_[A-Z_]*"' core/*.c)
if [ -n "$bad" ]; then
    echo "FAIL: the core reads a launcher's environment (ask the executor plugins instead):" >&2
    echo "$bad" >&2
    fail=1
fi

# the check itself: a planted cycle is refused
if printf 'study report\nreport replay\nreplay study\n' | tsort > /dev/null 2>&1; then
    echo "FAIL: tsort accepted a cycle; this test cannot see one" >&2
    fail=1
fi
[ "$fail" -eq 0 ] || exit 1
echo "PASS: $(echo "$order" | wc -l) core modules, no cycle; order: $(echo $order)"
