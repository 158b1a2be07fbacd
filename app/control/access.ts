// app/control — who may use the control socket. The kernel tells us the peer's uid/gid/pid
// (SO_PEERCRED, native/control/peer-cred.ts); this module decides, with pure parsers for the files
// it reads so the decision is unit-tested without a second user on the machine.
//
//   allowed: uid 0 · the service's own uid · primary gid = the group · the group among the peer's
//            supplementary groups, read from /proc/PID/status "Groups:" (the live process's
//            groups — the most reliable source; used only when its Uid line matches the peer uid,
//            so a recycled pid cannot lend its groups) or else /etc/group membership of the user
//   refused: everyone else, with "user X is not in group G"
// The socket file's mode (0660 root:group) already keeps others out; this check is the second wall
// (and the only one if the file mode is ever loosened).

/** One /etc/group entry. */
export interface GroupEntry { name: string; gid: number; members: string[] }
/** One /etc/passwd entry (the fields we use). */
export interface UserEntry { name: string; uid: number; gid: number }

/** Parses /etc/group text; malformed lines are skipped. */
export function parseGroupFile(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/** Parses /etc/passwd text; malformed lines are skipped. */
export function parsePasswdFile(text: string): UserEntry[] {
  const out: UserEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4 || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

/** The real uid and supplementary groups from /proc/PID/status text, or null when absent. */
export function parseProcStatus(text: string): { uid: number; groups: number[] } | null {
  const uid = /^Uid:\s+(\d+)/m.exec(text)?.[1];
  const groups = /^Groups:[ \t]*([\d \t]*)$/m.exec(text)?.[1];
  if (uid === undefined || groups === undefined) return null;
  return { uid: Number(uid), groups: groups.trim() ? groups.trim().split(/\s+/).map(Number) : [] };
}

/** What the access check knows about a peer. */
export interface PeerFacts {
  uid: number;
  gid: number;
  pid: number;
  /** Supplementary group ids; where they came from is in `groupsFrom`. */
  groups: number[];
  groupsFrom: 'proc' | 'group-file' | 'none';
  /** The user's name, or the uid as text. */
  user: string;
}

/** The policy: the allowed group (null gid when it does not exist) and the service's own uid. */
export interface AccessPolicy { groupName: string; gid: number | null; serviceUid: number }

/** The verdict on one peer, with a message for the log (and for the peer when refused). */
export type AccessDecision = { allowed: true; reason: string } | { allowed: false; message: string };

/** Decides whether a peer may use the control socket. */
export function decideAccess(peer: PeerFacts, policy: AccessPolicy): AccessDecision {
  if (peer.uid === 0) return { allowed: true, reason: 'root' };
  if (peer.uid === policy.serviceUid) return { allowed: true, reason: 'the service\'s own user' };
  if (policy.gid !== null) {
    if (peer.gid === policy.gid) return { allowed: true, reason: `primary group ${policy.groupName}` };
    if (peer.groups.includes(policy.gid)) return { allowed: true, reason: `member of ${policy.groupName} (${peer.groupsFrom})` };
  }
  const why = policy.gid === null ? ` (the group does not exist on this system; only root may connect)` : '';
  return { allowed: false, message: `user ${peer.user} is not in group ${policy.groupName}${why}` };
}

/** Reads text files; injected so tests can supply /proc and /etc contents. */
export type ReadText = (path: string) => string | null;

/** Gathers PeerFacts for kernel-reported credentials, from /proc first and /etc/group second. */
export function peerFacts(cred: { uid: number; gid: number; pid: number }, readText: ReadText): PeerFacts {
  const users = parsePasswdFile(readText('/etc/passwd') ?? '');
  const user = users.find((u) => u.uid === cred.uid)?.name ?? String(cred.uid);
  if (cred.pid > 0) {
    const status = parseProcStatus(readText(`/proc/${cred.pid}/status`) ?? '');
    if (status && status.uid === cred.uid) return { ...cred, groups: status.groups, groupsFrom: 'proc', user };
  }
  const groups = parseGroupFile(readText('/etc/group') ?? '');
  if (groups.length === 0) return { ...cred, groups: [], groupsFrom: 'none', user };
  return { ...cred, groups: groups.filter((g) => g.members.includes(user)).map((g) => g.gid), groupsFrom: 'group-file', user };
}

/** The gid of a group by name, from /etc/group text; null when it does not exist. */
export function groupId(groupText: string, name: string): number | null {
  return parseGroupFile(groupText).find((g) => g.name === name)?.gid ?? null;
}
