//! The `cari` command line: parses arguments and calls the library.

use cari::data::SyntheticFaces;
use cari::model::{MultiTaskNet, NetworkConfig};
use cari::train::{TrainConfig, Trainer};
use cari::{Device, Result};
use clap::{Args, Parser, Subcommand};
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "cari",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("CARI_BUILD_COMMIT"), ")"),
    about = "Caricature ↔ photo face recognition by dynamic multi-task learning"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the network's layer table: output shapes and parameter counts.
    Info(NetArgs),
    /// Train the multi-task model (default: the built-in synthetic faces, on the CPU).
    Train(TrainArgs),
}

#[derive(Args)]
struct NetArgs {
    /// Square input size in pixels (at least 75).
    #[arg(long, default_value_t = 160)]
    image_size: usize,
    /// Number of identities (classes of the three FC layers).
    #[arg(long, default_value_t = 195)]
    identities: usize,
    /// Divide every channel count by this (1, 2, 4, 8 or 16) for a narrower network.
    #[arg(long, default_value_t = 1)]
    width_divisor: usize,
}

impl NetArgs {
    fn config(&self) -> NetworkConfig {
        NetworkConfig {
            image_size: self.image_size,
            num_classes: self.identities,
            width_divisor: self.width_divisor,
            ..NetworkConfig::default()
        }
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    net: NetArgsTrain,
    /// Number of training steps.
    #[arg(long, default_value_t = 30)]
    steps: u64,
    /// Images per step (photos and caricatures alternate).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Learning rate of the network (the weight module's is 10× larger, as in the reference).
    #[arg(long, default_value_t = 0.01)]
    lr: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `cpu` (CUDA arrives with its own backend).
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// The training defaults are sized for a laptop CPU: smaller images and few identities.
#[derive(Args)]
struct NetArgsTrain {
    #[arg(long, default_value_t = 96)]
    image_size: usize,
    #[arg(long, default_value_t = 10)]
    identities: usize,
    #[arg(long, default_value_t = 1)]
    width_divisor: usize,
}

fn info(args: &NetArgs) -> Result<()> {
    let net = MultiTaskNet::new(args.config())?;
    let rows = net.layer_table()?;
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(10);
    println!("{:<width$}  {:>16}  {:>12}", "layer", "output", "parameters");
    for r in &rows {
        println!("{:<width$}  {:>16}  {:>12}", r.name, r.output.to_string(), group_digits(r.params));
    }
    let (trunk, branches, wm) = net.parameter_counts();
    println!();
    println!("trunk                 {:>12}", group_digits(trunk));
    for (i, b) in branches.iter().enumerate() {
        println!("branch {} (with FC)    {:>12}", i + 1, group_digits(*b));
    }
    println!("weight module         {:>12}", group_digits(wm));
    println!("total trainable       {:>12}", group_digits(trunk + branches.iter().sum::<usize>() + wm));
    Ok(())
}

fn group_digits(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn train(args: &TrainArgs) -> Result<()> {
    let device = Device::parse(&args.device)?;
    let config = NetworkConfig {
        image_size: args.net.image_size,
        num_classes: args.net.identities,
        width_divisor: args.net.width_divisor,
        ..NetworkConfig::default()
    };
    let net = MultiTaskNet::new(config)?;
    let params = net.init_params(args.seed, &device)?;
    let data = SyntheticFaces::new(args.net.identities, args.net.image_size, args.seed)?;
    println!(
        "training on synthetic faces: {} identities, {}×{} images, batch {}, {} steps on {}",
        data.num_identities(),
        args.net.image_size,
        args.net.image_size,
        args.batch,
        args.steps,
        device
    );
    let mut trainer = Trainer::new(net, params, TrainConfig::sgd(args.lr, args.seed)?)?;
    let start = Instant::now();
    for step in 0..args.steps {
        let batch = data.batch(step, args.batch, &device)?;
        let r = trainer.step(&batch)?;
        let elapsed = start.elapsed().as_secs_f64();
        let rate = (step + 1) as f64 * args.batch as f64 / elapsed;
        let eta = (args.steps - step - 1) as f64 * args.batch as f64 / rate;
        let l = r.task_losses.map(|l| l.map_or("   -  ".to_string(), |v| format!("{v:6.3}")));
        println!(
            "step {:>5}/{}  L {} {} {}  w {:.3} {:.3} {:.3}  {:6.1} img/s  ETA {:>4.0}s",
            step + 1,
            args.steps,
            l[0],
            l[1],
            l[2],
            r.task_weights[0],
            r.task_weights[1],
            r.task_weights[2],
            rate,
            eta
        );
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Info(a) => info(a),
        Command::Train(a) => train(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
