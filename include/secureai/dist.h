/*
 * dist.h — distributed parameter management (src/dist/): synchronous
 * data-parallel training across N workers whose gradients and weights only
 * ever cross the network as AES-256-GCM frames.
 *
 * Layers, bottom up (docs/distributed.md has the protocol):
 *   - links and frames: one directional channel between two workers of a
 *     job; every frame names job, sender, receiver, step and chunk in its
 *     authenticated header and nonce, and a receiver accepts only the next
 *     frame it expects, so a tampered, replayed, reordered, dropped or
 *     cross-job frame is refused with the peer and the step named;
 *   - the handshake: per-connection keys from the job's group secret and an
 *     ephemeral P-384 ECDH whose transcript includes both workers' evidence;
 *   - transports behind a small table: TCP sockets the worker opens, or
 *     streams its host formed (the enclave: TCP, or the MPI relay plugin
 *     that keeps libmpi out of libsecureai);
 *   - collectives: ring all-reduce (reduce-scatter then all-gather, chunked
 *     and pipelined) and broadcast, in a fixed reduction order so repeated
 *     runs and every worker give the same bits.
 *
 * Also a sharded parameter-server all-reduce over a full mesh (ps.c,
 * mesh.c). Not here yet (docs/distributed.md, "Not built yet"): real TEE evidence and the KBS policy behind get_evidence /
 * verify_peer, the group secret from the KBS, the spec's dist: section and
 * `secureai run --workers`.
 */
#ifndef SECUREAI_DIST_H
#define SECUREAI_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secureai/common.h"

/* ---- sizes and limits ----------------------------------------------------- */
#define SAI_DIST_JOB_ID_LEN     16
#define SAI_DIST_SECRET_LEN     32         /* the job group secret */
#define SAI_DIST_FRAME_HDR_LEN  48
#define SAI_DIST_FRAME_TAG_LEN  16
#define SAI_DIST_FRAME_OVERHEAD (SAI_DIST_FRAME_HDR_LEN + SAI_DIST_FRAME_TAG_LEN)
#define SAI_DIST_MAX_PAYLOAD    (16u << 20) /* cap on one frame's payload */
#define SAI_DIST_MAX_WORKERS    4096
#define SAI_DIST_MAX_EVIDENCE   (64u << 10) /* cap on a peer's evidence */
#define SAI_DIST_DEFAULT_CHUNK  (1u << 20)  /* payload bytes per frame */
#define SAI_DIST_FRAME_MAGIC    "SAIF"
#define SAI_DIST_FRAME_VERSION  1u

/* ---- links and frames ------------------------------------------------------
 * A link is one direction of one connection: frames from `sender` to
 * `receiver` of job `job_id` under one 256-bit key. Both ends keep a step
 * and a chunk counter; sai_dist_link_begin_step moves to a later step and
 * resets the chunk counter, and every frame sealed or opened advances it,
 * so the nonce (step || chunk) never repeats under a key and the receiver
 * knows exactly which frame comes next. After any refusal the link is dead:
 * every later call fails with SAI_ESTATE. */
typedef struct sai_dist_link sai_dist_link_t;

int  sai_dist_link_new(sai_dist_link_t **out, const uint8_t key[static 32],
                       const uint8_t job_id[static SAI_DIST_JOB_ID_LEN],
                       uint32_t sender, uint32_t receiver, bool plaintext,
                       sai_error_t *err) SAI_MUST_CHECK;
void sai_dist_link_free(sai_dist_link_t *l);
/* step must be later than every step begun before (the first may be 0). */
int  sai_dist_link_begin_step(sai_dist_link_t *l, uint64_t step, sai_error_t *err) SAI_MUST_CHECK;

/* Seal len (<= SAI_DIST_MAX_PAYLOAD) bytes into frame, which has room for
 * len + SAI_DIST_FRAME_OVERHEAD bytes. */
int sai_dist_frame_seal(sai_dist_link_t *l, uint8_t *frame, const void *payload,
                        size_t len, sai_error_t *err) SAI_MUST_CHECK;
/* Open the next expected frame (frame_len = payload + overhead) into
 * payload (room for frame_len - overhead bytes). Refuses with SAI_EAUTH a
 * frame whose tag does not verify, with SAI_EPOLICY one of another job,
 * sender or receiver, or out of sequence (replayed, reordered, dropped),
 * naming the peer and step; payload is then wiped. */
int sai_dist_frame_open(sai_dist_link_t *l, void *payload, const uint8_t *frame,
                        size_t frame_len, sai_error_t *err) SAI_MUST_CHECK;

/* ---- the key schedule (exposed for tests and docs/distributed.md) ----------
 * keys[0] for frames initiator -> responder, keys[1] for the other way,
 * confirm[0..1] the two key-confirmation MACs:
 *   prk  = HKDF-Extract(salt = transcript, ikm = group_secret || ecdh)
 *   k_ir = HKDF-Expand(prk, "secureai/dist/v1 key" || job || i || r)
 *   k_ri = HKDF-Expand(prk, "secureai/dist/v1 key" || job || r || i)
 *   fin  = HKDF-Expand(prk, "secureai/dist/v1 confirm" || ...)
 * transcript = SHA-256 of both hello messages (ranks, ephemeral keys,
 * evidence). */
int sai_dist_derive_keys(uint8_t keys[2][32], uint8_t confirm[2][32],
                         const uint8_t group_secret[static SAI_DIST_SECRET_LEN],
                         const uint8_t *ecdh, size_t ecdh_len,
                         const uint8_t transcript[static 32],
                         const uint8_t job_id[static SAI_DIST_JOB_ID_LEN],
                         uint32_t initiator, uint32_t responder,
                         sai_error_t *err) SAI_MUST_CHECK;

/* ---- the communicator ------------------------------------------------------ */
typedef struct sai_dist_comm sai_dist_comm_t;

/* How sai_dist_allreduce_avg reduces (docs/distributed.md, "Parameter-server
 * mode"): the ring (sai_dist_comm_tcp / _stream), or a sharded parameter
 * server over a full mesh (sai_dist_comm_mesh_tcp / _mesh_stream): servers
 * on ranks 0..S-1, server s owns the s-th of S equal shards, sums the N
 * contributions in rank order 0, 1, ..., N-1, divides by N and sends the
 * result back to every worker. */
typedef enum sai_dist_algorithm {
    SAI_DIST_RING = 0,
    SAI_DIST_PS = 1,
} sai_dist_algorithm_t;

/* Evidence is bound to one handshake by its 64-byte report data:
 *   report_data = SHA-512("secureai/dist/v1 evidence" || hello[0..133))
 * i.e. the hello's magic, version, flags, job id, sender, receiver, world
 * and the sender's fresh ephemeral key. A TEE puts it in its report
 * (sai_tee_t get_evidence(report_data)), so evidence from another handshake,
 * job or worker does not verify here.
 *
 * get_evidence produces this worker's evidence for report_data; *ev is
 * malloc'ed and freed by the caller (dist). */
typedef int (*sai_dist_evidence_fn)(void *ctx, const uint8_t report_data[64], uint8_t **ev,
                                    size_t *len, sai_error_t *err);
/* Checks a peer's evidence against the job's policy and that it carries
 * report_data. Return 0 to accept; non-zero (err filled) refuses the peer. */
typedef int (*sai_dist_verify_fn)(void *ctx, uint32_t peer, const uint8_t *evidence,
                                  size_t len, const uint8_t report_data[64], sai_error_t *err);

typedef struct sai_dist_cfg {
    uint8_t        job_id[SAI_DIST_JOB_ID_LEN];
    const uint8_t *group_secret;     /* SAI_DIST_SECRET_LEN bytes, borrowed */
    uint32_t       rank, world;      /* 0 <= rank < world <= SAI_DIST_MAX_WORKERS */
    sai_dist_evidence_fn get_evidence; /* bound evidence per handshake, or NULL: */
    void          *evidence_ctx;
    const uint8_t *evidence;         /* ... then these fixed bytes (not bound to the
                                      * handshake), borrowed; may be NULL */
    size_t         evidence_len;
    sai_dist_verify_fn verify_peer;  /* NULL accepts any evidence */
    void          *verify_ctx;
    int            timeout_ms;       /* deadline of one handshake or one collective;
                                      * 0 = 30000 */
    size_t         chunk_bytes;      /* payload per frame; 0 = SAI_DIST_DEFAULT_CHUNK */
    bool           insecure_plaintext; /* benchmarks only: frames carry no
                                        * encryption and a zero tag (both ends
                                        * must agree: it is in the handshake) */
    sai_dist_algorithm_t algorithm;  /* RING (default) needs a ring communicator,
                                      * PS a mesh */
    uint32_t       servers;          /* PS: servers S on ranks 0..S-1, 1..world;
                                      * 0 = world */
} sai_dist_cfg_t;

/* TCP ring: listen_fd is a bound, listening socket of this worker (taken:
 * the communicator closes it); the worker connects to `next` (rank+1 mod
 * world) at next_host:next_port, retrying until the deadline, and accepts
 * its previous neighbour on listen_fd. Connections whose handshake fails
 * (another job, a wrong rank, no group secret, refused evidence) are
 * dropped and the wait goes on until the deadline; the error then names
 * the last refusal. world == 1 needs no socket (listen_fd may be -1). */
int sai_dist_comm_tcp(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, int listen_fd,
                      const char *next_host, uint16_t next_port,
                      sai_error_t *err) SAI_MUST_CHECK;
/* Bind and listen on host:port (port 0 = any); *port gets the bound port. */
int sai_dist_tcp_listen(int *fd, const char *host, uint16_t *port, sai_error_t *err) SAI_MUST_CHECK;
void sai_dist_comm_free(sai_dist_comm_t *c);

/* A ring over two connected streams the caller formed (fds taken): the
 * enclave's transport. Its untrusted host forms the ring (TCP connect and
 * accept, sai_dist_tcp_ring_connect; or the MPI relay below) and hands the
 * enclave one stream per neighbour, so the enclave never opens a socket and
 * never links libmpi. The same handshake and frames as sai_dist_comm_tcp;
 * a failed handshake is final (the host relays one connection each way). */
int sai_dist_comm_stream(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, int next_fd,
                         int prev_fd, sai_error_t *err) SAI_MUST_CHECK;
/* The host's half of a TCP ring: accept the previous worker on listen_fd
 * (taken) and dial the next one, retrying until the deadline; fds[0] is the
 * connection to next, fds[1] the one from prev. No handshake here: the
 * enclaves run it over these sockets. */
int sai_dist_tcp_ring_connect(int fds[2], uint32_t rank, uint32_t world, int listen_fd,
                              const char *next_host, uint16_t next_port, int timeout_ms,
                              sai_error_t *err) SAI_MUST_CHECK;

/* A full mesh for the parameter-server mode (cfg->algorithm == SAI_DIST_PS):
 * one connected stream per pair of workers, the same handshake per pair
 * (the lower rank initiates) and the same frames, on a link per direction
 * and pair. fds has `world` entries, fds[rank] unused (-1); every other one
 * is taken. The handshakes run in the order of the pairs (lower rank, higher
 * rank), so no two workers wait on each other. As sai_dist_comm_stream, a
 * failed handshake is final. */
int sai_dist_comm_mesh_stream(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, int *fds,
                              sai_error_t *err) SAI_MUST_CHECK;
/* The host's half of a TCP mesh: worker `rank` dials every lower rank q at
 * hosts[q]:ports[q] (hosts NULL = 127.0.0.1 for all) and says its rank in
 * an 8-byte preamble ("SAIM" || u32 rank: routing only, the handshake
 * authenticates it), and accepts every higher rank on listen_fd (taken;
 * -1 for the last rank). fds gets `world` entries, fds[rank] = -1. A
 * connection with a bad or duplicate preamble is dropped and the wait goes
 * on until the deadline. */
int sai_dist_tcp_mesh_connect(int *fds, uint32_t rank, uint32_t world, int listen_fd,
                              const char *const *hosts, const uint16_t *ports, int timeout_ms,
                              sai_error_t *err) SAI_MUST_CHECK;
/* Both: sai_dist_tcp_mesh_connect, then sai_dist_comm_mesh_stream. */
int sai_dist_comm_mesh_tcp(sai_dist_comm_t **out, const sai_dist_cfg_t *cfg, int listen_fd,
                           const char *const *hosts, const uint16_t *ports,
                           sai_error_t *err) SAI_MUST_CHECK;

/* The MPI relay (`mpirun -np N secureai ...`): the host loads
 * libsecureai-mpi.so (built only when OpenMPI is found; plugin path NULL =
 * $SECUREAI_MPI_RELAY, else next to this program, else the loader's path)
 * with dlopen and runs it in a thread. It initialises MPI, gives this
 * process's rank and the size of MPI_COMM_WORLD, and relays the bytes of
 * enclave_fds (fds[0] to the next rank, fds[1] to the previous; give them
 * to sai_dist_comm_stream) as MPI messages. libsecureai never links
 * libmpi. sai_dist_relay_close waits up to grace_ms for the relay to drain
 * (the enclave has closed its ends), then stops it and finalises MPI. */
#define SAI_DIST_MPI_RELAY_SO "libsecureai-mpi.so"
typedef struct sai_dist_relay sai_dist_relay_t;
bool sai_dist_mpi_available(const char *plugin);
int  sai_dist_mpi_relay_open(sai_dist_relay_t **out, const char *plugin, uint32_t *rank,
                             uint32_t *world, int enclave_fds[2], sai_error_t *err) SAI_MUST_CHECK;
int  sai_dist_relay_close(sai_dist_relay_t *r, int grace_ms, sai_error_t *err);

/* Start training step `step` (strictly increasing; the first may be 0).
 * Every collective runs inside a step, and each link's frames are counted
 * from 0 within it. */
int sai_dist_step_begin(sai_dist_comm_t *c, uint64_t step, sai_error_t *err) SAI_MUST_CHECK;

/* In-place average of n floats over all workers. Ring: the sum of segment
 * s (the ring's s-th of `world` equal parts) is formed starting at worker s
 * and adding each next worker's values round the ring, then divided by
 * world. PS: every value is summed in rank order 0, 1, ..., world-1 by the
 * server owning its shard, then divided by world. Either way the result is
 * copied, not recomputed, to every worker, so every worker gets the same
 * bits, and a repeat with the same inputs too. On failure the data is
 * unspecified and the communicator is dead. */
int sai_dist_allreduce_avg(sai_dist_comm_t *c, float *data, size_t n, sai_error_t *err) SAI_MUST_CHECK;
/* Copy len bytes from worker root to every worker (pipelined down the ring;
 * on a mesh the root sends to every worker itself). */
int sai_dist_broadcast(sai_dist_comm_t *c, uint32_t root, void *data, size_t len,
                       sai_error_t *err) SAI_MUST_CHECK;

typedef struct sai_dist_stats {
    uint64_t frames_sent, frames_received;
    uint64_t bytes_sent, bytes_received;   /* on the wire, framing included */
    double   crypto_seconds;               /* AES-GCM seal + open */
    double   reduce_seconds;               /* additions and copies */
    double   total_seconds;                /* inside collectives */
} sai_dist_stats_t;
void sai_dist_comm_stats(const sai_dist_comm_t *c, sai_dist_stats_t *st);
uint32_t sai_dist_comm_rank(const sai_dist_comm_t *c);
uint32_t sai_dist_comm_world(const sai_dist_comm_t *c);
sai_dist_algorithm_t sai_dist_comm_algorithm(const sai_dist_comm_t *c);

/* ---- data-parallel helpers over the engine (include/secureai/nn.h) --------- */
struct sai_nn_model;
/* Average every trainable tensor's gradient over all workers (one
 * all-reduce of the gradients packed in tensor order into scratch, which
 * holds sai_nn_model_num_params floats; NULL = allocate per call). */
int sai_dist_allreduce_grads(sai_dist_comm_t *c, struct sai_nn_model *m, float *scratch,
                             sai_error_t *err) SAI_MUST_CHECK;
/* Copy every tensor (parameters, momentum and BN buffers) from root. */
int sai_dist_broadcast_model(sai_dist_comm_t *c, struct sai_nn_model *m, uint32_t root,
                             sai_error_t *err) SAI_MUST_CHECK;
/* Copy only the buffers (BN running statistics) from root: each worker
 * updates them from its own batches, so without this they drift apart
 * (PyTorch DDP's broadcast_buffers). One broadcast of them packed. */
int sai_dist_broadcast_buffers(sai_dist_comm_t *c, struct sai_nn_model *m, uint32_t root,
                               sai_error_t *err) SAI_MUST_CHECK;

#endif
