/** Engine start-up: DJL's PyTorch engine, offline, with a fixed intra-op thread count. */
package dev.rq.model.engine;
