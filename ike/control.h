/* zike's control socket: commands from zikectl, answers in text or JSON. */
#ifndef ZESP_IKE_CONTROL_H
#define ZESP_IKE_CONTROL_H

struct zike;

/* The largest frame the control socket takes (ZMQ_MAXMSGSIZE): a bigger one
 * closes the client's connection before libzmq buffers it.  No argument is
 * that long (they are under 256 bytes); between the two a request is
 * answered "request too long". */
#define CONTROL_FRAME_MAX 4096
/* An argument's length is below this (zikectl refuses a longer one). */
#define CONTROL_ARG_MAX 256U

/* Request: frames "command" [arg ...]; reply: "ok" or "error", then text.
 * Commands: list, stats, groups, initiate PEER [POLICY], terminate PEER,
 * rekey PEER [ike], rekey-group GROUP, senders GROUP, leave GROUP, reload;
 * "--json" as the last argument of list, stats and groups. */
void control_serve(struct zike *z, void *sock);

#endif
