using EchoHost;

var builder = WebApplication.CreateBuilder(args);
builder.UseTurboTcp().AddServer<EchoServer>("Echo");

var app = builder.Build();
app.MapGet("/healthz", () => "ok");
app.Run();
