/* Printing for people (aligned tables) and for programs (JSON). */
#ifndef ZESP_TOOL_OUTPUT_H
#define ZESP_TOOL_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <zesp.h>

void json_string(FILE *f, const char *s);
void print_sa_json(FILE *f, const zesp_sa_info *sa);
void print_sa_detail(FILE *f, const zesp_sa_info *sa);
void print_sa_row(FILE *f, const zesp_sa_info *sa);
void print_sa_header(FILE *f);
void print_policy_json(FILE *f, const zesp_policy *p);
void print_policy_row(FILE *f, const zesp_policy *p);
void print_stats_row(FILE *f, const zesp_sa_info *sa);
void print_stats_header(FILE *f);
void print_stats_json(FILE *f, const zesp_sa_info *sa);
const char *direction_name(uint32_t direction);
void rejected_json(FILE *f, const uint64_t r[ZESP_REJ_COUNT], bool sa_only);
void rejected_text(FILE *f, const uint64_t r[ZESP_REJ_COUNT]);

#endif
