using EchoHost;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;

var builder = WebApplication.CreateBuilder(args);
builder.UseTurboTcp()
       .AddServer<EchoServer>("Echo")          // tcp://127.0.0.1:7000 (appsettings.json)
       .AddServer<EchoServer>("EchoTls");      // TLS, once given a certificate: see the README

// Liveness: every configured endpoint listens (degraded while draining). Readiness: the same, and unhealthy from
// the moment the host begins to stop, so that a load balancer sends no new connections while open ones drain.
builder.Services.AddHealthChecks()
       .AddTurboTcp(tags: ["live"])
       .AddTurboTcpReadiness(tags: ["ready"]);

var app = builder.Build();
app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = check => check.Tags.Contains("live") });
app.MapHealthChecks("/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains("ready") });
app.Run();
