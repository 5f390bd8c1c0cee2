// FFTW 3, double precision (Debian libfftw3-dev): the real-to-complex transforms of the PLD accountant.
#include <fftw3.h>
