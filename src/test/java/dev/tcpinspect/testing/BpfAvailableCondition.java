package dev.tcpinspect.testing;

import dev.tcpinspect.ebpf.Features;
import dev.tcpinspect.ebpf.ProgramType;
import dev.tcpinspect.os.Libc;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** See {@link RequiresBpf}. */
public final class BpfAvailableCondition implements ExecutionCondition {
    private static volatile String problem;
    private static volatile boolean checked;

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        String why = problem();
        if (why == null) {
            return ConditionEvaluationResult.enabled("BPF usable");
        }
        if ("true".equals(System.getenv("CI"))) {
            throw new AssertionError("BPF is unusable under CI=true: " + why);
        }
        return ConditionEvaluationResult.disabled("BPF unusable here: " + why);
    }

    private static synchronized String problem() {
        if (!checked) {
            checked = true;
            try {
                if (Libc.geteuid() != 0) {
                    problem = "not root";
                } else if (!Features.programType(ProgramType.XDP)) {
                    problem = "the kernel cannot load XDP programs";
                }
            } catch (Throwable t) {
                problem = t.toString();
            }
        }
        return problem;
    }
}
