package dev.rq.collective;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Mutual authentication of ring peers by challenge and HMAC, so that only ranks that hold the run's
 * secret can join a ring — the run token itself never travels on the wire, and a recorded
 * handshake cannot be replayed (each side contributes a fresh random nonce).
 *
 * <pre>
 *   secret = SHA-256("rq ring secret v2" ‖ 0 ‖ UTF-8(run token))
 *   acceptor → connector   CHALLENGE  nonceA (32 random bytes)
 *   connector → acceptor   HELLO      fields, nonceC, HMAC-SHA256(secret, "hello"  ‖ fields ‖ nonceA ‖ nonceC)
 *   acceptor → connector   ANSWER     status, reason, HMAC-SHA256(secret, "accept" ‖ fields ‖ nonceA ‖ nonceC)
 * </pre>
 *
 * The run token is made on the driver (application id and a random UUID) and reaches the tasks
 * inside the serialized task; protect that channel with Spark's own authentication and encryption
 * ({@code spark.authenticate}, {@code spark.network.crypto.enabled}) on untrusted networks. The
 * ring's data frames are not encrypted: keep the ring ports inside the cluster's network.
 */
final class RingAuth {

    /** Bytes of a nonce and of a MAC. */
    static final int BYTES = 32;

    private static final SecureRandom RANDOM = new SecureRandom();

    private final byte[] secret;

    /** @param runToken identifies the run (and the stage attempt); the same on every rank */
    RingAuth(String runToken) {
        MessageDigest md = sha256();
        md.update("rq ring secret v2".getBytes(StandardCharsets.US_ASCII));
        md.update((byte) 0);
        md.update(runToken.getBytes(StandardCharsets.UTF_8));
        this.secret = md.digest();
    }

    /** @return a fresh random nonce */
    static byte[] nonce() {
        byte[] n = new byte[BYTES];
        RANDOM.nextBytes(n);
        return n;
    }

    /** @return HMAC-SHA256 of {@code label ‖ fields ‖ nonceA ‖ nonceC} under the run's secret */
    byte[] mac(String label, ByteBuffer fields, byte[] nonceA, byte[] nonceC) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            mac.update(label.getBytes(StandardCharsets.US_ASCII));
            mac.update(fields.duplicate());
            mac.update(nonceA);
            mac.update(nonceC);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    /** @return whether {@code got} equals the expected MAC (constant time) */
    boolean verify(byte[] got, String label, ByteBuffer fields, byte[] nonceA, byte[] nonceC) {
        return MessageDigest.isEqual(got, mac(label, fields, nonceA, nonceC));
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
