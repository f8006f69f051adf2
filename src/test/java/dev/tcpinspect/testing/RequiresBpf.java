package dev.tcpinspect.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Marks a test that needs to load BPF programs and make namespaces (root). Where that is impossible
 * the test is skipped, except under CI=true, where it fails: CI must never pass by skipping.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(BpfAvailableCondition.class)
public @interface RequiresBpf {}
