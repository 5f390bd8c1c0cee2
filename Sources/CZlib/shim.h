// zlib (Debian zlib1g-dev), for the zlib membership-inference score: len(zlib.compress(text)) as in MIMIR.
#include <zlib.h>
