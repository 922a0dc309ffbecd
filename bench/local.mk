# bench programs: EXTRA_PROGRAMS += bench/x; HN_BENCH += bench/x
