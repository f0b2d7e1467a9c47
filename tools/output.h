/* Printing for people (aligned tables) and for programs (JSON). */
#ifndef ZESP_TOOL_OUTPUT_H
#define ZESP_TOOL_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <zesp.h>

#include "json.h"

void print_sa_json(struct json *j, const zesp_sa_info *sa);
void print_sa_detail(FILE *f, const zesp_sa_info *sa);
void print_sa_row(FILE *f, const zesp_sa_info *sa);
void print_sa_header(FILE *f);
void print_policy_json(struct json *j, const zesp_policy *p);
void print_policy_row(FILE *f, const zesp_policy *p);
void print_stats_row(FILE *f, const zesp_sa_info *sa);
void print_stats_header(FILE *f);
void print_stats_json(struct json *j, const zesp_sa_info *sa);
const char *direction_name(uint32_t direction);
/* key: {"malformed":N,...}, every kind of rejection or an SA's kinds. */
void rejected_json(struct json *j, const char *key,
                   const uint64_t r[ZESP_REJ_COUNT], bool sa_only);
void rejected_text(FILE *f, const uint64_t r[ZESP_REJ_COUNT]);

#endif
