/* Printing for people (aligned tables) and for programs (JSON). */
#ifndef ZESP_TOOL_OUTPUT_H
#define ZESP_TOOL_OUTPUT_H

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

#endif
