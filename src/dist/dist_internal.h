/*
 * dist_internal.h — private to src/dist/: the link and communicator structures,
 * the transport table, and the handshake messages.
 */
#ifndef SAI_DIST_INT_H
#define SAI_DIST_INT_H

#include "secureai/crypto.h"
#include "secureai/dist.h"

/* ---- links ---------------------------------------------------------------- */
struct sai_dist_link {
    sai_aead_t *aead;
    uint8_t   job[SAI_DIST_JOB_ID_LEN];
    uint32_t  sender, receiver;
    bool      plaintext;
    bool      have_step;
    bool      dead;
    uint64_t  step;
    uint32_t  chunk;          /* the next frame's chunk index */
    double    crypto_s;       /* time inside AES-GCM */
};

/* ---- transports ------------------------------------------------------------
 * A transport moves bytes between this worker and its two ring neighbours:
 * io[SAI_DIST_NEXT] is the connection to rank+1, io[SAI_DIST_PREV] the one
 * from rank-1 (for world == 2 both lead to the same worker, over two
 * connections). Frames are built and checked above it, so a transport sees
 * only ciphertext. */
enum { SAI_DIST_NEXT = 0, SAI_DIST_PREV = 1 };

typedef struct sai_dist_io_t {
    const uint8_t *sbuf;
    size_t         slen, sdone;
    uint8_t       *rbuf;
    size_t         rlen, rdone;
} sai_dist_io_t;

typedef struct sai_dist_transport_ops_t {
    const char *name;
    /* Progress every pending transfer (sdone < slen, rdone < rlen) until at
     * least one of them completes; SAI_ENET naming the peer when a peer
     * closes or fails, or when the deadline (sai_now() seconds) passes. */
    int  (*xfer)(void *t, sai_dist_io_t io[2], double deadline, sai_error_t *err);
    void (*close)(void *t);
} sai_dist_transport_ops_t;

/* ---- the communicator ----------------------------------------------------- */
struct sai_dist_comm {
    uint32_t rank, world, next, prev;
    int      timeout_ms;
    size_t   chunk_bytes;
    const sai_dist_transport_ops_t *ops;
    void    *t;
    sai_dist_link_t *tx;      /* frames to next */
    sai_dist_link_t *rx;      /* frames from prev */
    uint8_t *sframe, *rframe, *payload;   /* chunk_bytes + overhead each */
    bool     dead;
    bool     have_step;
    uint64_t step;
    sai_dist_stats_t st;
    sai_dist_algorithm_t algorithm;
    uint32_t servers;                 /* PS: 1..world */
    struct sai_dist_mesh *mesh;       /* a mesh communicator's per-peer streams and
                                       * links (mesh.c), else NULL; also c->t */
};

/* Validate cfg and allocate a communicator without a transport (enough
 * for world == 1); the transport's constructor fills ops, t, tx and rx. */
int sai_dist__comm_alloc(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, sai_error_t *err);

/* Mark the communicator failed: close the transport (so the neighbours see
 * the failure at once instead of at their deadline) and refuse every later
 * call. Returns err->code (or code when err is NULL). */
int sai_dist__fail(sai_dist_comm_t *c, int code, sai_error_t *err);

/* ---- the mesh (mesh.c) and the parameter server (ps.c) ---------------------
 * A mesh plan is a collective as per-peer lists of frames: n_out[q] frames
 * to peer q and n_in[q] from it, each list in a fixed order. Outgoing frame
 * o to q is sealed once out_ready says so; incoming frame i from q is opened
 * into in_dest (exactly len bytes), then in_done runs (which may make
 * outgoing frames ready). One frame travels each way per peer at a time, and
 * every peer's stream is polled, so no worker waits on one peer while
 * another waits on it. */
typedef struct sai_dist_mplan sai_dist_mplan_t;
struct sai_dist_mplan {
    const size_t *n_out, *n_in;       /* indexed by rank; [own rank] = 0 */
    bool (*out_ready)(const sai_dist_mplan_t *p, uint32_t q, size_t o);
    const uint8_t *(*out_chunk)(const sai_dist_mplan_t *p, uint32_t q, size_t o, size_t *len);
    uint8_t *(*in_dest)(sai_dist_mplan_t *p, uint32_t q, size_t i, size_t *len);
    void (*in_done)(sai_dist_mplan_t *p, uint32_t q, size_t i);
    void *ctx;
};
int    sai_dist__mesh_run(sai_dist_comm_t *c, sai_dist_mplan_t *p, sai_error_t *err);
void   sai_dist__mesh_free(struct sai_dist_mesh *m);
int    sai_dist__mesh_begin_step(struct sai_dist_mesh *m, uint64_t step, sai_error_t *err);
double sai_dist__mesh_crypto_seconds(const struct sai_dist_mesh *m);
/* Per-collective scratch of at least bytes (kept; wiped when freed). */
void  *sai_dist__mesh_scratch(struct sai_dist_mesh *m, size_t bytes);
int    sai_dist__mesh_broadcast(sai_dist_comm_t *c, uint32_t root, void *data, size_t len,
                                sai_error_t *err);
int    sai_dist__ps_allreduce_avg(sai_dist_comm_t *c, float *data, size_t n, sai_error_t *err);

/* ---- the handshake ---------------------------------------------------------
 * hello = "SAIH" | u16 version | u16 flags | job[16] | u32 sender |
 *         u32 receiver | u32 world | P-384 point[97] | u32 evidence_len |
 *         evidence
 * finish = "SAIC" | HMAC-SHA-256(confirm key, transcript) */
#define SAI_DIST_HELLO_FIXED 137
#define SAI_DIST_FIN_LEN     36
#define SAI_DIST_FLAG_PLAINTEXT 1u

typedef struct sai_dist_hello_t {
    uint16_t flags;
    uint8_t  job[SAI_DIST_JOB_ID_LEN];
    uint32_t sender, receiver, world;
    uint8_t  point[SAI_P384_POINT_LEN];
    uint32_t evidence_len;
} sai_dist_hello_t;

/* One side of one connection's handshake. */
typedef struct sai_dist_hs_t {
    const sai_dist_cfg_t *cfg;
    bool        initiator;
    uint32_t    peer;
    sai_ec_key_t *eph;
    uint8_t    *mine;         /* my hello, malloc'ed */
    size_t      mine_len;
    uint8_t    *theirs;       /* the peer's hello */
    size_t      theirs_len;
    uint8_t     keys[2][32];
    uint8_t     confirm[2][32];
    uint8_t     transcript[32];
} sai_dist_hs_t;

int  sai_dist__hs_start(sai_dist_hs_t *hs, const sai_dist_cfg_t *cfg, bool initiator,
                        uint32_t peer, sai_error_t *err);
/* Parse the fixed part of a hello (SAI_DIST_HELLO_FIXED bytes). */
int  sai_dist__hello_parse(sai_dist_hello_t *h, const uint8_t *buf, sai_error_t *err);
/* Check the peer's complete hello (fixed part + evidence), derive the keys. */
int  sai_dist__hs_peer_hello(sai_dist_hs_t *hs, const uint8_t *buf, size_t len, sai_error_t *err);
void sai_dist__hs_finish_msg(const sai_dist_hs_t *hs, uint8_t out[SAI_DIST_FIN_LEN], bool mine);
int  sai_dist__hs_check_finish(const sai_dist_hs_t *hs, const uint8_t msg[SAI_DIST_FIN_LEN],
                               sai_error_t *err);
/* The link for my sending direction (send=true) or the peer's. */
int  sai_dist__hs_link(sai_dist_hs_t *hs, sai_dist_link_t **out, bool send, sai_error_t *err);
void sai_dist__hs_clear(sai_dist_hs_t *hs);

/* Blocking helpers of tcp.c (one stream, one deadline), shared with mesh.c. */
int  sai_dist__fd_nonblock(int fd);
int  sai_dist__fd_send_all(int fd, uint32_t peer, const void *buf, size_t len, double deadline,
                           sai_error_t *err);
int  sai_dist__fd_recv_all(int fd, uint32_t peer, void *buf, size_t len, double deadline,
                           sai_error_t *err);
int  sai_dist__fd_recv_hello(int fd, sai_dist_hs_t *hs, double deadline, sai_error_t *err);
int  sai_dist__tcp_dial(int *out, const char *host, uint16_t port, uint32_t peer, double deadline,
                        sai_error_t *err);
int  sai_dist__remaining_ms(double deadline);

/* ---- the MPI relay plugin (libsecureai-mpi.so, src/dist/mpi/relay.c) ------
 * libmpi stays out of libsecureai, so out of the enclave's image and its
 * measured loader manifest: the untrusted host loads this plugin with
 * dlopen (relay.c) and it only pumps bytes between the two streams whose
 * other ends the enclave holds (fds[SAI_DIST_NEXT], fds[SAI_DIST_PREV])
 * and the ring neighbours' MPI ranks. What it moves is the handshake and
 * the AEAD frames: ciphertext it cannot open. A zero-length MPI message
 * means the other side's stream ended. Each returns 0 or -1 with msg. */
#define SAI_DIST_MPI_RELAY_ABI 1
typedef int  (*sai_dist__mpi_relay_abi_fn)(void);
typedef int  (*sai_dist__mpi_relay_init_fn)(int *rank, int *size, char *msg, size_t cap);
typedef int  (*sai_dist__mpi_relay_pump_fn)(const int fds[2], const volatile int *stop, char *msg,
                                             size_t cap);
typedef void (*sai_dist__mpi_relay_finalize_fn)(void);
int  sai_dist__mpi_relay_abi(void);
int  sai_dist__mpi_relay_init(int *rank, int *size, char *msg, size_t cap);
int  sai_dist__mpi_relay_pump(const int fds[2], const volatile int *stop, char *msg, size_t cap);
void sai_dist__mpi_relay_finalize(void);

/* big-endian helpers */
static inline void sai_dist__put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint32_t sai_dist__get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void sai_dist__put64(uint8_t *p, uint64_t v)
{
    sai_dist__put32(p, (uint32_t)(v >> 32));
    sai_dist__put32(p + 4, (uint32_t)v);
}
static inline uint64_t sai_dist__get64(const uint8_t *p)
{
    return (uint64_t)sai_dist__get32(p) << 32 | sai_dist__get32(p + 4);
}

#endif
