/**
 * Validated configuration records ({@code conf/*.yaml}) and their loader. Every record checks its
 * values in its compact constructor and names the offending key on error. The records are
 * {@link java.io.Serializable}: a Spark job holds the bound record and ships it to its executors as
 * it is (Java serialization of a record goes through its canonical constructor, so the checks run
 * again there), instead of JSON text re-bound at every use.
 */
package dev.rq.model.config;
