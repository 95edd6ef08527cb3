//! `ado-temporal-bridge` command line entry point.

use std::process::ExitCode;

use ado_temporal_bridge::{
    cli, config::Config, sched, startup::Application, subscriptions, telemetry,
};
use clap::Parser;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status for an invalid configuration (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    // Usage errors exit 64 like a bad config (clap's own 2 would read as
    // `subscriptions plan --detailed-exitcode`'s "changes").
    let args = match cli::Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_CONFIG } else { 0 });
        }
    };
    // One thread per CPU the process may use, unless `serve`'s config says
    // otherwise (tokio's own default would also read TOKIO_WORKER_THREADS,
    // and panic on a value it cannot parse).
    let mut threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    // `serve` reads its config first: it says how many threads to start,
    // and the slice they ask for, which this thread asks for first so that
    // every thread started after it inherits it.
    let command = match args.command {
        cli::Command::Serve { config } => match Config::load(&config) {
            Ok(config) => {
                threads = config.worker_threads.unwrap_or(threads);
                let slice = config
                    .scheduler_slice
                    .map(|s| (s, sched::set_slice(0, Some(s))));
                Run::Serve(Box::new(config), slice)
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        other => Run::Tool(other),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(command)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The scheduler slice `serve` asked for (`schedulerSlice`), and whether
/// the kernel granted it.
type SliceAsked = Option<(std::time::Duration, std::io::Result<()>)>;

/// What `main` runs once the runtime is up.
enum Run {
    Serve(Box<Config>, SliceAsked),
    Tool(cli::Command),
}

async fn run(command: Run) -> ExitCode {
    let command = match command {
        Run::Serve(config, slice) => return serve(*config, slice).await,
        Run::Tool(command) => command,
    };
    match command {
        // `main` loaded its config and made it a `Run::Serve`.
        cli::Command::Serve { .. } => {
            eprintln!("error: serve was not started with its config");
            ExitCode::FAILURE
        }
        cli::Command::Check { config, run_tests } => {
            match ado_temporal_bridge::tools::check(&config, run_tests) {
                Ok((out, failed)) => {
                    println!("{out}");
                    if failed {
                        ExitCode::FAILURE
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Err(e) => report(Err(e), EXIT_CONFIG),
            }
        }
        cli::Command::Test {
            config,
            source,
            json,
            payloads,
        } => report(
            ado_temporal_bridge::tools::dry_run(&config, source.as_deref(), &payloads, json),
            EXIT_CONFIG,
        ),
        cli::Command::Deliveries { config, command } => report(
            ado_temporal_bridge::tools::deliveries(&config, command).await,
            1,
        ),
        cli::Command::Subscriptions {
            config,
            ado,
            command,
        } => {
            let getenv = |name: &str| std::env::var(name).ok();
            match subscriptions::run(&config, &ado, &command, &getenv).await {
                Ok(r) => {
                    println!("{}", r.output);
                    ExitCode::from(r.exit)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(e.exit_code())
                }
            }
        }
    }
}

async fn serve(config: Config, slice: SliceAsked) -> ExitCode {
    let telemetry = telemetry::init(config.log_format, &config.log_level);
    match slice {
        Some((slice, Ok(()))) => tracing::info!(?slice, "scheduler slice set (schedulerSlice)"),
        Some((slice, Err(e))) => tracing::warn!(
            ?slice,
            error = %e,
            "schedulerSlice not applied: the threads keep the kernel's default slice"
        ),
        None => {}
    }
    let shutdown = CancellationToken::new();
    ado_temporal_bridge::startup::cancel_on_signals(shutdown.clone());
    let app = match Application::build(config, shutdown.clone()).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot start");
            eprintln!("error: {e:#}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let result = app.run(shutdown).await;
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a tool's output, or its error and exits with `code`.
fn report(result: anyhow::Result<String>, code: u8) -> ExitCode {
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(code)
        }
    }
}
