/* YAML manifests <-> JSON objects, with libyaml: what --config-dir reads and
 * `sluiced export` writes. Multi-document YAML as kubectl takes it; plain
 * scalars are typed by the YAML 1.2 core schema (null, true/false, integers,
 * floats; anything else, and every quoted or !!str scalar, is a string), so
 * `port: 80` is a number and `value: "80"` a string, as Kubernetes reads them. */
#ifndef SL_YAML_JSON_H
#define SL_YAML_JSON_H

#include <jansson.h>
#include <stddef.h>

/* Limits against hostile input: nodes built (aliases expanded count in full)
 * and nesting depth. */
#define SL_YAML_MAX_NODES 2000000
#define SL_YAML_MAX_DEPTH 200
#define SL_YAML_MAX_DEPTH_TEXT "200"

/* The documents of a YAML text, as a JSON array (one element per document; an
 * empty document is JSON null). NULL on error, with err saying why and where
 * ("line L, column C: ..."; the document's index too). */
json_t *sl_yaml_load(const char *text, size_t len, char *err, size_t errlen);
/* The same with a smaller node budget (an API body: a few times its size, so
 * that aliases cannot blow a small request up into gigabytes). */
json_t *sl_yaml_load_limited(const char *text, size_t len, size_t max_nodes, char *err, size_t errlen);

/* The documents of docs (a JSON array) as one multi-document YAML text, each
 * starting with "---"; strings that would read back as another type are
 * quoted. NULL on error (out of memory). Free with free(). */
char *sl_yaml_dump(const json_t *docs);

#endif
