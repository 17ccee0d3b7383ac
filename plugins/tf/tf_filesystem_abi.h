/*
 * tf_filesystem_abi.h — the declarations of TensorFlow's modular filesystem
 * C API that the sealed:// plugin needs, restated for ABI compatibility.
 *
 * Provenance: github.com/tensorflow/tensorflow, files
 *   tensorflow/c/experimental/filesystem/filesystem_interface.h
 *   tensorflow/c/tf_file_statistics.h
 *   tensorflow/c/tf_status.h and tsl/c/tsl_status.h (TF_Code values)
 * (Apache-2.0, Copyright 2019 The TensorFlow Authors), read at commit
 * 06f3c933a97e015e5401acabaf853d3db804522b of filesystem_interface.h.
 * Only what binary compatibility requires is restated: struct names, member
 * order and types, function signatures, the status codes and the ABI/API
 * version numbers (all 0). No other text or code of TensorFlow is copied;
 * the comments here are ours. TensorFlow checks, when it loads a plugin,
 * that each table's ABI number equals its own and copies min(our size,
 * its size) bytes of each table, so every table must keep TensorFlow's exact
 * layout, including the members this plugin leaves NULL.
 *
 * TensorFlow cannot be installed on this project's machines: the plugin is
 * tested by a C program that plays TensorFlow's part (tests/plugins/
 * test_tf_plugin.c), never under TensorFlow itself.
 */
#ifndef SAI_PLUGINS_TF_FILESYSTEM_ABI_H
#define SAI_PLUGINS_TF_FILESYSTEM_ABI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- tf_status.h / tsl_status.h: an opaque status owned by TensorFlow ---- */
typedef struct TSL_Status TF_Status;
typedef enum TSL_Code {
    TF_OK = 0,
    TF_CANCELLED = 1,
    TF_UNKNOWN = 2,
    TF_INVALID_ARGUMENT = 3,
    TF_DEADLINE_EXCEEDED = 4,
    TF_NOT_FOUND = 5,
    TF_ALREADY_EXISTS = 6,
    TF_PERMISSION_DENIED = 7,
    TF_UNAUTHENTICATED = 16,
    TF_RESOURCE_EXHAUSTED = 8,
    TF_FAILED_PRECONDITION = 9,
    TF_ABORTED = 10,
    TF_OUT_OF_RANGE = 11,
    TF_UNIMPLEMENTED = 12,
    TF_INTERNAL = 13,
    TF_UNAVAILABLE = 14,
    TF_DATA_LOSS = 15,
} TF_Code;
/* Provided by TensorFlow's runtime (libtensorflow_framework); the plugin
 * calls only TF_SetStatus. The test program defines all four. */
extern TF_Status *TF_NewStatus(void);
extern void TF_DeleteStatus(TF_Status *s);
extern void TF_SetStatus(TF_Status *s, TF_Code code, const char *msg);
extern TF_Code TF_GetCode(const TF_Status *s);
extern const char *TF_Message(const TF_Status *s);

/* ---- tf_file_statistics.h ------------------------------------------------ */
typedef struct TF_FileStatistics {
    int64_t length;
    int64_t mtime_nsec;
    bool is_directory;
} TF_FileStatistics;

/* ---- filesystem_interface.h, section 1: wrappers owned by TensorFlow ---- */
typedef struct TF_RandomAccessFile { void *plugin_file; } TF_RandomAccessFile;
typedef struct TF_WritableFile { void *plugin_file; } TF_WritableFile;
typedef struct TF_ReadOnlyMemoryRegion { void *plugin_memory_region; } TF_ReadOnlyMemoryRegion;
typedef struct TF_Filesystem { void *plugin_filesystem; } TF_Filesystem;
typedef struct TF_TransactionToken {
    void *token;
    TF_Filesystem *owner;
} TF_TransactionToken;

typedef union TF_Filesystem_Option_Value_Union {
    int64_t int_val;
    double real_val;
    struct {
        char *buf;
        int buf_length;
    } buffer_val;
} TF_Filesystem_Option_Value_Union;

typedef struct TF_Filesystem_Option_Value {
    int type_tag;
    int num_values;
    TF_Filesystem_Option_Value_Union *values;
} TF_Filesystem_Option_Value;

typedef struct TF_Filesystem_Option {
    char *name;
    char *description;
    int per_file;
    TF_Filesystem_Option_Value *value;
} TF_Filesystem_Option;

/* ---- section 2: the function tables -------------------------------------- */
typedef struct TF_RandomAccessFileOps {
    void (*cleanup)(TF_RandomAccessFile *file);
    /* bytes read, TF_OK when all n, TF_OUT_OF_RANGE when short at EOF; -1 on error */
    int64_t (*read)(const TF_RandomAccessFile *file, uint64_t offset, size_t n,
                    char *buffer, TF_Status *status);
} TF_RandomAccessFileOps;

typedef struct TF_WritableFileOps {
    void (*cleanup)(TF_WritableFile *file);
    void (*append)(const TF_WritableFile *file, const char *buffer, size_t n, TF_Status *status);
    int64_t (*tell)(const TF_WritableFile *file, TF_Status *status);
    void (*flush)(const TF_WritableFile *file, TF_Status *status);
    void (*sync)(const TF_WritableFile *file, TF_Status *status);
    void (*close)(const TF_WritableFile *file, TF_Status *status);
} TF_WritableFileOps;

typedef struct TF_ReadOnlyMemoryRegionOps {
    void (*cleanup)(TF_ReadOnlyMemoryRegion *region);
    const void *(*data)(const TF_ReadOnlyMemoryRegion *region);
    uint64_t (*length)(const TF_ReadOnlyMemoryRegion *region);
} TF_ReadOnlyMemoryRegionOps;

typedef struct TF_FilesystemOps {
    void (*init)(TF_Filesystem *filesystem, TF_Status *status);
    void (*cleanup)(TF_Filesystem *filesystem);
    void (*new_random_access_file)(const TF_Filesystem *filesystem, const char *path,
                                   TF_RandomAccessFile *file, TF_Status *status);
    void (*new_writable_file)(const TF_Filesystem *filesystem, const char *path,
                              TF_WritableFile *file, TF_Status *status);
    void (*new_appendable_file)(const TF_Filesystem *filesystem, const char *path,
                                TF_WritableFile *file, TF_Status *status);
    void (*new_read_only_memory_region_from_file)(const TF_Filesystem *filesystem, const char *path,
                                                  TF_ReadOnlyMemoryRegion *region, TF_Status *status);
    void (*create_dir)(const TF_Filesystem *filesystem, const char *path, TF_Status *status);
    void (*recursively_create_dir)(const TF_Filesystem *filesystem, const char *path, TF_Status *status);
    void (*delete_file)(const TF_Filesystem *filesystem, const char *path, TF_Status *status);
    void (*delete_dir)(const TF_Filesystem *filesystem, const char *path, TF_Status *status);
    void (*delete_recursively)(const TF_Filesystem *filesystem, const char *path,
                               uint64_t *undeleted_files, uint64_t *undeleted_dirs, TF_Status *status);
    void (*rename_file)(const TF_Filesystem *filesystem, const char *src, const char *dst,
                        TF_Status *status);
    void (*copy_file)(const TF_Filesystem *filesystem, const char *src, const char *dst,
                      TF_Status *status);
    void (*path_exists)(const TF_Filesystem *filesystem, const char *path, TF_Status *status);
    bool (*paths_exist)(const TF_Filesystem *filesystem, char **paths, int num_files,
                        TF_Status **statuses);
    void (*stat)(const TF_Filesystem *filesystem, const char *path, TF_FileStatistics *stats,
                 TF_Status *status);
    bool (*is_directory)(const TF_Filesystem *filesystem, const char *path, TF_Status *status);
    int64_t (*get_file_size)(const TF_Filesystem *filesystem, const char *path, TF_Status *status);
    char *(*translate_name)(const TF_Filesystem *filesystem, const char *uri);
    int (*get_children)(const TF_Filesystem *filesystem, const char *path, char ***entries,
                        TF_Status *status);
    int (*get_matching_paths)(const TF_Filesystem *filesystem, const char *glob, char ***entries,
                              TF_Status *status);
    void (*flush_caches)(const TF_Filesystem *filesystem);
    int (*start_transaction)(const TF_Filesystem *filesystem, TF_TransactionToken **token,
                             TF_Status *status);
    int (*end_transaction)(const TF_Filesystem *filesystem, TF_TransactionToken *token,
                           TF_Status *status);
    int (*add_to_transaction)(const TF_Filesystem *filesystem, const char *path,
                              TF_TransactionToken *token, TF_Status *status);
    int (*get_transaction_for_path)(const TF_Filesystem *filesystem, const char *path,
                                    TF_TransactionToken **token, TF_Status *status);
    int (*get_or_start_transaction_for_path)(const TF_Filesystem *filesystem, const char *path,
                                             TF_TransactionToken **token, TF_Status *status);
    char *(*decode_transaction_token)(const TF_Filesystem *filesystem, const TF_TransactionToken *token);
    void (*get_filesystem_configuration)(const TF_Filesystem *filesystem, TF_Filesystem_Option **options,
                                         int *num_options, TF_Status *status);
    void (*set_filesystem_configuration)(const TF_Filesystem *filesystem, const TF_Filesystem_Option *options,
                                         int num_options, TF_Status *status);
    void (*get_filesystem_configuration_option)(const TF_Filesystem *filesystem, const char *key,
                                                TF_Filesystem_Option **option, TF_Status *status);
    void (*set_filesystem_configuration_option)(const TF_Filesystem *filesystem,
                                                const TF_Filesystem_Option *option, TF_Status *status);
    void (*get_filesystem_configuration_keys)(const TF_Filesystem *filesystem, char **keys,
                                              int *num_keys, TF_Status *status);
} TF_FilesystemOps;

/* ---- section 3: versions (TensorFlow 2.x: every ABI and API number is 0) -- */
enum {
    TF_RANDOM_ACCESS_FILE_OPS_API = 0,
    TF_RANDOM_ACCESS_FILE_OPS_ABI = 0,
    TF_WRITABLE_FILE_OPS_API = 0,
    TF_WRITABLE_FILE_OPS_ABI = 0,
    TF_READ_ONLY_MEMORY_REGION_OPS_API = 0,
    TF_READ_ONLY_MEMORY_REGION_OPS_ABI = 0,
    TF_FILESYSTEM_OPS_API = 0,
    TF_FILESYSTEM_OPS_ABI = 0,
};

/* ---- section 4: registration ---------------------------------------------- */
typedef struct TF_FilesystemPluginOps {
    char *scheme;
    int filesystem_ops_abi;
    int filesystem_ops_api;
    size_t filesystem_ops_size;
    TF_FilesystemOps *filesystem_ops;
    int random_access_file_ops_abi;
    int random_access_file_ops_api;
    size_t random_access_file_ops_size;
    TF_RandomAccessFileOps *random_access_file_ops;
    int writable_file_ops_abi;
    int writable_file_ops_api;
    size_t writable_file_ops_size;
    TF_WritableFileOps *writable_file_ops;
    int read_only_memory_region_ops_abi;
    int read_only_memory_region_ops_api;
    size_t read_only_memory_region_ops_size;
    TF_ReadOnlyMemoryRegionOps *read_only_memory_region_ops;
} TF_FilesystemPluginOps;

typedef struct TF_FilesystemPluginInfo {
    size_t num_schemes;
    TF_FilesystemPluginOps *ops;
    void *(*plugin_memory_allocate)(size_t size);
    void (*plugin_memory_free)(void *ptr);
} TF_FilesystemPluginInfo;

/* The DSO entry point TensorFlow looks up with dlsym. */
void TF_InitPlugin(TF_FilesystemPluginInfo *plugin_info);

#endif
