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
};

#define TESTFN_HARTMANN6_MIN (-3.32237)
#define TESTFN_BRANIN_MIN 0.397887
#define TESTFN_BRANINCURRIN_MAX_HV 59.36011874867746

double testfn_branin(const double *x);               /* x in [-5,10] x [0,15] */
double testfn_hartmann6(const double *x);            /* x in [0,1]^6 */
double testfn_ackley(const double *x, size_t d);     /* x in [-32.768, 32.768]^d */
void testfn_branincurrin(const double *x, double *f); /* x in [0,1]^2; f[0] branin, f[1] currin */
void testfn_zdt(int which, const double *x, size_t d, double *f); /* which 1..3; x in [0,1]^d */
void testfn_dtlz2(const double *x, size_t d, size_t m, double *f); /* x in [0,1]^d */

#endif
