/**
 * The Spark side of the ring collectives ({@code dev.rq.collective}): barrier tasks as ranks
 * ({@link dev.rq.jobs.distributed.BarrierCollectives}), the driver's barrier coordinator as
 * rendezvous ({@link dev.rq.jobs.distributed.SparkBarrierRendezvous}) and the network settings
 * read from Spark configuration ({@link dev.rq.jobs.distributed.RingSettings}).
 */
package dev.rq.jobs.distributed;
