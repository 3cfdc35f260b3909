package dev.gregor.javaclient;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Broker settings a test class needs beside the defaults, as
 * {@code "key=value"} in Kafka's property names (Gregor takes the same):
 * {@link BrokerTest} starts the class's broker with them
 * ({@code --override key=value}, on Gregor and on Kafka alike).
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface BrokerConfig {
    String[] value();
}
