import type { FastPathMemory } from '../engine/fast-path.js';

// OS interface: a layer-3 TUN device (Linux /dev/net/tun, macOS utun, Windows Wintun).
// One implementation per OS lives in native/tun/; tests use FakeTun (test/support/fake-tun.ts).
// Invariants every implementation keeps:
//  - one read delivers exactly one IP packet (no packet-information header);
//  - one write() sends exactly one IP packet — two packets are never merged into one OS write
//    (Linux delivers only the first of a coalesced writev);
//  - the packet buffer handed to onPacket is valid only during the call (the device reads every
//    packet into one reused buffer): the receiver may rewrite it in place and pass it to write()
//    within the call without copying — the device keeps it intact until that write is done — but
//    must copy whatever it keeps for later.

export interface TunOptions {
  /** Interface name to request (Linux: IFNAMSIZ-1 = 15 bytes at most). */
  name: string;
  mtu: number;
  /** Addresses with prefix length, e.g. "198.18.0.1/30", "fd00:5359::1/126". */
  addresses: string[];
  /**
   * Segmentation/checksum offloads: 'auto' asks the OS for them and falls back to plain packets
   * where it refuses (the log says which mode runs); 'off' never asks.
   */
  offload?: 'auto' | 'off';
  /**
   * Queues to ask for (Linux multi-queue TUN; default 1). Queue 0 is read by the engine's thread;
   * every further queue by a worker thread that forwards established TCP sessions itself through
   * the engine's shared NAT table (attachFastPath) and hands every other packet to the engine. An
   * OS or kernel without multi-queue gives one queue (the log says so).
   */
  queues?: number;
}

export interface TunDevice {
  /** The name the OS gave the device (may differ from the requested one on macOS). */
  readonly name: string;
  readonly mtu: number;
  /**
   * Bytes in front of the IP header in every packet buffer, read or written: a virtio-net header
   * (struct virtio_net_hdr, 10 bytes) when offloads are on, else 0. A read packet keeps its header
   * when written back; a packet the engine builds starts with `headroom` zero bytes (no offload).
   */
  readonly headroom: number;
  /** The offload mode in force, for logs: e.g. "none" or "csum+tso4+tso6". */
  readonly offload: string;
  /** Queues the device has (1 unless it is a multi-queue device). */
  readonly queues: number;
  /**
   * Multi-queue devices: starts the queue workers on the engine's shared NAT table. Call before
   * start(); resolves once every worker runs (rejects, leaving the device single-queue, if none can).
   */
  attachFastPath?(memory: FastPathMemory): Promise<void>;
  /** Starts the read loop; onPacket is called once per packet. Call once. */
  start(onPacket: (packet: Buffer) => void): void;
  /**
   * Queues one IP packet for the OS. Never throws; returns false when the packet was dropped
   * (device closed or the write queue is over its limit), as a NIC drops on a full ring.
   * `queue` (any integer, taken modulo `queues`): the queue to write through. A multi-queue TUN
   * sends a flow's later packets to the queue its packets were last written through, so writing
   * all of a session's packets through one queue keeps the session on that queue's thread.
   */
  write(packet: Buffer, queue?: number): boolean;
  /** Stops reading, closes the device; the OS removes it (Linux, non-persistent). Idempotent. */
  close(): Promise<void>;
}

export interface TunFactory {
  /** Creates the device, assigns addresses and MTU and sets it up. */
  open(options: TunOptions): Promise<TunDevice>;
}
