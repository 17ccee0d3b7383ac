/*
 * seal_throughput.c — seal and unseal throughput (one thread, data in the
 * page cache) next to raw OpenSSL AES-256-GCM on the same 64 KiB buffers,
 * measured in the same run, and their ratios. Goal: unseal >= 0.85x raw.
 *
 *   build/bench/seal_throughput [MiB]     (default 1024; env SAI_BENCH_SEAL_MB)
 *
 * Reader paths: pread (default) and opts.map (first and second epoch).
 * Files live in /dev/shm when it has room (tmpfs: the writers' fsync costs
 * nothing there, so the figure is the format's cost, not the disk's), else
 * in $TMPDIR. Each figure is the best of 3 runs.
 *
 * SAI_BENCH_CLOCK=cpu times every path (baselines included) by the
 * process's CPU time (user + system, CLOCK_PROCESS_CPUTIME_ID) instead of
 * wall time: on a shared machine this drops the time spent waiting for a
 * core, so two variants can be compared at any load.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "secureai/seal.h"

#define CHUNK 65536
#define REPS  3

static int use_cpu;

static double now(void)
{
    if (!use_cpu)
        return sai_now();
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const sai_error_t *err)
{
    fprintf(stderr, "seal_throughput: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* Raw EVP AES-256-GCM over total bytes in 64 KiB messages, the same
 * per-message work as the format does (set IV, AAD, update, final, tag). */
static double raw_gcm(uint64_t total, int enc, const uint8_t *key, uint8_t *buf)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    uint8_t iv[12] = {0}, tag[16] = {0}, aad[63] = {0};
    int n;
    if (c == NULL || EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL, enc) != 1)
        die("EVP init", NULL);
    /* decryption needs a valid tag to measure the success path */
    uint8_t *ct = malloc(CHUNK);
    memcpy(ct, buf, CHUNK);
    if (!enc) {
        EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
        EVP_EncryptInit_ex(e, EVP_aes_256_gcm(), NULL, key, iv);
        EVP_EncryptUpdate(e, NULL, &n, aad, sizeof aad);
        EVP_EncryptUpdate(e, ct, &n, buf, CHUNK);
        EVP_EncryptFinal_ex(e, ct + CHUNK, &n);
        EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_GET_TAG, 16, tag);
        EVP_CIPHER_CTX_free(e);
    }
    double t0 = now();
    for (uint64_t done = 0; done < total; done += CHUNK) {
        EVP_CipherInit_ex(c, NULL, NULL, NULL, iv, enc);
        EVP_CipherUpdate(c, NULL, &n, aad, sizeof aad);
        if (enc) {
            EVP_CipherUpdate(c, buf, &n, buf, CHUNK);
            EVP_CipherFinal_ex(c, buf + CHUNK, &n);
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag);
        } else {
            EVP_CipherUpdate(c, buf, &n, ct, CHUNK);
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag);
            if (EVP_CipherFinal_ex(c, buf + CHUNK, &n) != 1)
                die("raw GCM decrypt did not verify", NULL);
        }
    }
    double t = now() - t0;
    EVP_CIPHER_CTX_free(c);
    free(ct);
    return (double)total / t / 1e9;
}

/* Raw EVP AES-256-GCM decryption of `total` bytes of ciphertext that sit in
 * memory (64 KiB messages, tags precomputed), into a rotating 1 MiB buffer:
 * the same memory traffic as unsealing a file from the page cache, without
 * the format or the kernel. */
static double raw_gcm_stream(uint64_t total, const uint8_t *key)
{
    uint64_t n = total / CHUNK;
    uint8_t *ct = malloc(total), *tags = malloc(n * 16), *dst = malloc(1u << 20);
    uint8_t iv[12] = {0}, aad[63] = {0};
    int k;
    if (ct == NULL || tags == NULL || dst == NULL)
        die("out of memory", NULL);
    memset(ct, 0x5a, total);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL);
    for (uint64_t i = 0; i < n; i++) {
        memcpy(iv, &i, sizeof i);
        EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv);
        EVP_EncryptUpdate(c, NULL, &k, aad, sizeof aad);
        EVP_EncryptUpdate(c, ct + i * CHUNK, &k, ct + i * CHUNK, CHUNK);
        EVP_EncryptFinal_ex(c, dst, &k);
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tags + i * 16);
    }
    EVP_CIPHER_CTX_free(c);
    c = EVP_CIPHER_CTX_new();
    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL);
    double t0 = now();
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *d = dst + (i * CHUNK) % (1u << 20);
        memcpy(iv, &i, sizeof i);
        EVP_DecryptInit_ex(c, NULL, NULL, NULL, iv);
        EVP_DecryptUpdate(c, NULL, &k, aad, sizeof aad);
        EVP_DecryptUpdate(c, d, &k, ct + i * CHUNK, CHUNK);
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tags + i * 16);
        if (EVP_DecryptFinal_ex(c, d, &k) != 1)
            die("raw stream decrypt did not verify", NULL);
    }
    double t = now() - t0;
    EVP_CIPHER_CTX_free(c);
    free(ct);
    free(tags);
    free(dst);
    return (double)total / t / 1e9;
}

int main(int argc, char **argv)
{
    sai_error_t err = {0};
    const char *env = getenv("SAI_BENCH_SEAL_MB");
    uint64_t mb = argc > 1 ? strtoull(argv[1], NULL, 10) : env ? strtoull(env, NULL, 10) : 1024;
    if (mb == 0)
        mb = 1024;
    const char *clk = getenv("SAI_BENCH_CLOCK");
    use_cpu = clk != NULL && strcmp(clk, "cpu") == 0;
    uint64_t total = mb << 20;
    const char *base = "/dev/shm";
    struct statvfs vf;
    if (statvfs(base, &vf) != 0 || (uint64_t)vf.f_bavail * vf.f_frsize < total * 3 + (64u << 20))
        base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[256], in[300], out[300], back[300];
    snprintf(dir, sizeof dir, "%s/sai-bench-XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", NULL);
    snprintf(in, sizeof in, "%s/plain", dir);
    snprintf(out, sizeof out, "%s/plain.sealed", dir);
    snprintf(back, sizeof back, "%s/plain.out", dir);

    uint8_t key[32];
    if (sai_random_bytes(key, sizeof key, &err) != 0)
        die("random", &err);
    size_t bl = 1u << 20;
    uint8_t *buf = malloc(bl + 64);
    if (sai_random_bytes(buf, bl, &err) != 0)
        die("random", &err);
    FILE *f = fopen(in, "wb");
    for (uint64_t d = 0; d < total; d += bl)
        fwrite(buf, 1, bl, f);
    fclose(f);

    double raw_enc = 0, raw_dec = 0, raw_str = 0, seal = 0, rd = 0, rdm = 0, rdw = 0, unseal = 0;
    for (int r = 0; r < REPS; r++) {
        double g = raw_gcm(total, 1, key, buf);
        raw_enc = g > raw_enc ? g : raw_enc;
        g = raw_gcm(total, 0, key, buf);
        raw_dec = g > raw_dec ? g : raw_dec;
        g = raw_gcm_stream(total, key);
        raw_str = g > raw_str ? g : raw_str;

        unlink(out);
        double t0 = now();
        if (sai_seal_file(in, out, key, NULL, NULL, NULL, &err) != 0)
            die("seal", &err);
        g = (double)total / (now() - t0) / 1e9;
        seal = g > seal ? g : seal;

        /* unseal through the reader: what a training data loader does */
        t0 = now();
        sai_seal_reader_t *rdr = NULL;
        if (sai_seal_open(&rdr, out, key, NULL, &err) != 0)
            die("open", &err);
        for (uint64_t off = 0; off < total; off += bl)
            if (sai_seal_read_at(rdr, off, buf, bl, &err) != 0)
                die("read_at", &err);
        sai_seal_close(rdr);
        g = (double)total / (now() - t0) / 1e9;
        rd = g > rd ? g : rd;

        /* the same with opts.map: decrypt straight from the page cache */
        sai_seal_open_opts_t mo = {.map = true};
        t0 = now();
        if (sai_seal_open(&rdr, out, key, &mo, &err) != 0)
            die("open (map)", &err);
        for (uint64_t off = 0; off < total; off += bl)
            if (sai_seal_read_at(rdr, off, buf, bl, &err) != 0)
                die("read_at", &err);
        g = (double)total / (now() - t0) / 1e9;
        rdm = g > rdm ? g : rdm;
        /* a second epoch over the same reader (its mapping is now warm) */
        t0 = now();
        for (uint64_t off = 0; off < total; off += bl)
            if (sai_seal_read_at(rdr, off, buf, bl, &err) != 0)
                die("read_at", &err);
        g = (double)total / (now() - t0) / 1e9;
        rdw = g > rdw ? g : rdw;
        sai_seal_close(rdr);

        /* unseal file to file: what `secureai unseal` does */
        unlink(back);
        t0 = now();
        if (sai_unseal_file(out, back, key, false, NULL, &err) != 0)
            die("unseal", &err);
        g = (double)total / (now() - t0) / 1e9;
        unseal = g > unseal ? g : unseal;
    }
    printf("seal_throughput: %llu MiB, 64 KiB chunks, one thread, files in %s, best of %d, "
           "%s time\n", (unsigned long long)mb, base, REPS, use_cpu ? "CPU" : "wall");
    printf("  raw AES-256-GCM encrypt   %6.2f GB/s\n", raw_enc);
    printf("  raw AES-256-GCM decrypt   %6.2f GB/s\n", raw_dec);
    printf("  raw decrypt, %4llu MiB in RAM %5.2f GB/s   (same bytes streamed from memory)\n",
           (unsigned long long)mb, raw_str);
    printf("  seal   file -> file       %6.2f GB/s   %.2fx raw encrypt\n", seal, seal / raw_enc);
    printf("  unseal reader (read_at)   %6.2f GB/s   %.2fx raw decrypt  (goal >= 0.85x), "
           "%.2fx raw from RAM\n", rd, rd / raw_dec, rd / raw_str);
    printf("  unseal reader, map=true  %6.2f GB/s   %.2fx raw decrypt  (1st epoch, faults timed)\n",
           rdm, rdm / raw_dec);
    printf("  unseal reader, map, warm %5.2f GB/s   %.2fx raw decrypt, %.2fx raw from RAM\n",
           rdw, rdw / raw_dec, rdw / raw_str);
    printf("  unseal file -> file       %6.2f GB/s   %.2fx raw decrypt\n", unseal,
           unseal / raw_dec);
    unlink(in);
    unlink(out);
    unlink(back);
    rmdir(dir);
    free(buf);
    return 0;
}
