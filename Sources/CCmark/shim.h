// GitHub's cmark-gfm with its core extensions (tables), shared/REFERENCES.md section 7.
#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>
