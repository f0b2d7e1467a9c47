/* zike's control socket: commands from zikectl, answers in text or JSON. */
#ifndef ZESP_IKE_CONTROL_H
#define ZESP_IKE_CONTROL_H

struct zike;

/* Request: frames "command" [arg ...]; reply: "ok" or "error", then text.
 * Commands: list, stats, initiate PEER [POLICY], terminate PEER,
 * rekey PEER [ike], reload; "--json" as the last argument of list and stats. */
void control_serve(struct zike *z, void *sock);

#endif
