/*
 * Replays a fuzz corpus through one libFuzzer harness without libFuzzer (the normal gcc build):
 * every regular file of the corpus directory (argv[1], else the harness's own corpus under
 * tests/fuzz/) is given to LLVMFuzzerTestOneInput once. A crash or sanitizer report fails the
 * test; CI runs it in the plain and the ASan+UBSan builds.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : HN_FUZZ_CORPUS;
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "replay: cannot open the corpus %s\n", dir);
        return 1;
    }
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        FILE *f = fopen(path, "rbe");
        unsigned char *buf = malloc((size_t)st.st_size + 1);
        size_t len = f != NULL && buf != NULL ? fread(buf, 1, (size_t)st.st_size, f) : 0;
        if (f != NULL) {
            fclose(f);
        }
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        n++;
    }
    closedir(d);
    printf("replay: %zu inputs of %s\n", n, dir);
    return n > 0 ? 0 : 1;
}
