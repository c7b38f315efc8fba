/**
 * Collective communication for data-parallel training, without Spark: a deterministic TCP ring
 * ({@link dev.rq.collective.TcpRingCollective}) implementing the model library's {@link
 * dev.rq.model.distributed.Collective}, its connection setup with mutual challenge–response
 * authentication ({@link dev.rq.collective.RingSetup}, {@link dev.rq.collective.RingAuth}),
 * listening-port ranges for firewalled networks ({@link dev.rq.collective.PortRange}) and the
 * address exchange it needs ({@link dev.rq.collective.Rendezvous}). The Spark side (barrier tasks
 * as ranks, the driver as rendezvous) is {@code dev.rq.jobs.distributed}.
 */
package dev.rq.collective;
