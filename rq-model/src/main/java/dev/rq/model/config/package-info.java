/**
 * Validated configuration records ({@code conf/*.yaml}) and their loader. Every record checks its
 * values in its compact constructor and names the offending key on error.
 */
package dev.rq.model.config;
