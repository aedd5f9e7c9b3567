namespace ReplayCluster;

internal static class Placeholder;
