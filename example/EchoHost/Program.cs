using EchoHost;

var builder = WebApplication.CreateBuilder(args);
builder.UseTurboTcp()
       .AddServer<EchoServer>("Echo")          // tcp://127.0.0.1:7000 (appsettings.json)
       .AddServer<EchoServer>("EchoTls");      // TLS, once given a certificate: see the README

var app = builder.Build();
app.MapGet("/healthz", () => "ok");
app.Run();
