/*
 * Standard test problems, defined as BoTorch's botorch.test_functions defines them (same
 * domains and formulas, all to be minimized). Pure functions of x; thread safe.
 */
#ifndef HILNAS_TESTFN_H
#define HILNAS_TESTFN_H

#include <stddef.h>

enum testfn_id {
    TESTFN_BRANIN,
    TESTFN_HARTMANN6,
    TESTFN_ACKLEY,
    TESTFN_BRANINCURRIN,
    TESTFN_ZDT1,
    TESTFN_ZDT2,
    TESTFN_ZDT3,
    TESTFN_DTLZ2,
    TESTFN_LAYERS,
};

/* Published optima and reference points / maximum hypervolumes (BoTorch's values). */
#define TESTFN_HARTMANN6_MIN (-3.32237)
#define TESTFN_BRANIN_MIN 0.397887
#define TESTFN_BRANINCURRIN_REF_0 18.0
#define TESTFN_BRANINCURRIN_REF_1 6.0
#define TESTFN_BRANINCURRIN_MAX_HV 59.36011874867746
#define TESTFN_ZDT_REF 11.0 /* both objectives */
#define TESTFN_ZDT1_MAX_HV (120.0 + 2.0 / 3.0)
#define TESTFN_ZDT2_MAX_HV (120.0 + 1.0 / 3.0)
#define TESTFN_ZDT3_MAX_HV 128.77811613069076060
#define TESTFN_DTLZ2_REF                                                                           \
    1.1 /* every objective; max hv 1.1^m minus the                                                 \
           positive orthant of the unit ball */

/* Branin on [-5,10] x [0,15]; minimum 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475). */
double testfn_branin(const double *x);
/* Hartmann6 on [0,1]^6; minimum -3.32237. */
double testfn_hartmann6(const double *x);
/* Ackley (a = 20, b = 0.2, c = 2 pi) on [-32.768, 32.768]^d, d >= 1; minimum 0 at 0. */
double testfn_ackley(const double *x, size_t d);
/* BraninCurrin on [0,1]^2: f[0] Branin of (15 x0 - 5, 15 x1), f[1] Currin. */
void testfn_branincurrin(const double *x, double *f);
/* ZDT1..3 (which = 1..3) on [0,1]^d, d >= 2: f[0] = x0, f[1] as BoTorch. */
void testfn_zdt(int which, const double *x, size_t d, double *f);
/* DTLZ2 with m objectives on [0,1]^d, d > m: front sum f_j^2 = 1 where x_{m-1..d-1} = 0.5. */
void testfn_dtlz2(const double *x, size_t d, size_t m, double *f);

/*
 * layers: a binary-heavy problem shaped like choosing which of 16 layers keep attention plus
 * 4 ordinal sizes (hilnas' own, for gpbo's discrete search). x[0..15] in {0, 1} (b_i),
 * x[16..19] in {0, .., 4} (levels o_k, t_k = o_k / 4). Minimize
 *   f = sum_i h_i b_i + sum_{i<15} J_i b_i b_{i+1} + 0.4 t_3 (1 - 2 b_0) - 0.3 t_2 b_15
 *       + 2 (sum_i b_i / 16 - t_0)^2 + (t_1 - 0.6)^2 + 0.5 (t_2 - t_1)^2,
 *   h_i = 0.6 sin(1.3 i + 0.5), J_i = 0.8 cos(0.9 i + 1).
 * Local fields, couplings of neighbours (an Ising chain) and a count coupled to an ordinal:
 * the minimum of a continuous relaxation need not round to the discrete minimum. The minimum
 * over the 2^16 * 5^4 points, TESTFN_LAYERS_MIN, is exact by dynamic programming
 * (testfn_layers_argmin) and checked against brute force in
 * tests/plugins/evaluator-testfn/test_testfn.c.
 */
#define TESTFN_LAYERS_BITS 16
#define TESTFN_LAYERS_LEVELS 5
#define TESTFN_LAYERS_DIM 20
#define TESTFN_LAYERS_MIN (-4.5565456941783085) /* at b = 1011100011110100, o = (2, 2, 2, 4) */
double testfn_layers(const double *x);
/* The minimum and a minimizer (x[20]) by dynamic programming. */
double testfn_layers_argmin(double *x);

#endif
