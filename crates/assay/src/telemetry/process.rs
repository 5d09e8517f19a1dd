//! The process gauges (`process_*`), read from `/proc/self` at each scrape. Linux only:
//! elsewhere nothing is recorded and the names are absent.

use assay_wire::metric;

/// Clock ticks a second in `/proc/<pid>/stat` (`USER_HZ`): fixed at 100 by the kernel's ABI
/// on every architecture the host is built for, whatever the kernel's internal tick rate.
const USER_HZ: f64 = 100.0;

/// Sets the process gauges from `/proc`; a file that cannot be read leaves its gauge as it was.
pub(crate) fn record() {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let fields = stat.as_deref().map(stat_fields).unwrap_or_default();
        if let Some(cpu) = cpu_seconds(&fields) {
            metrics::gauge!(metric::PROCESS_CPU_SECONDS_TOTAL).set(cpu);
        }
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| boot_time(&s));
        if let (Some(started), Some(boot)) = (start_ticks(&fields), boot) {
            metrics::gauge!(metric::PROCESS_START_TIME_SECONDS).set(boot + started / USER_HZ);
        }
        if let Some(rss) = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| resident_bytes(&s))
        {
            metrics::gauge!(metric::PROCESS_RESIDENT_MEMORY_BYTES).set(rss);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            // The directory being read holds one descriptor itself.
            let open = fds.count().saturating_sub(1);
            metrics::gauge!(metric::PROCESS_OPEN_FDS).set(open as f64);
        }
    }
}

/// The fields of `/proc/self/stat` after the command name, which may hold spaces and
/// parentheses: field 3 (`state`) is element 0.
fn stat_fields(stat: &str) -> Vec<&str> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

/// `utime` + `stime` (fields 14 and 15), in seconds.
fn cpu_seconds(fields: &[&str]) -> Option<f64> {
    let tick = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((tick(11)? + tick(12)?) / USER_HZ)
}

/// `starttime` (field 22): clock ticks after boot.
fn start_ticks(fields: &[&str]) -> Option<f64> {
    fields.get(19)?.parse().ok()
}

/// `btime` of `/proc/stat`: boot time in Unix seconds.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes(status: &str) -> Option<f64> {
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        // A command name with a space and a parenthesis, as a process may call itself.
        let stat =
            "42 (as say) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1234 1000 200";
        let fields = stat_fields(stat);
        assert_eq!(fields[0], "S");
        assert_eq!(cpu_seconds(&fields), Some(3.0));
        assert_eq!(start_ticks(&fields), Some(1234.0));
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000.0)
        );
        assert_eq!(
            resident_bytes("Name:\tassay\nVmRSS:\t  2048 kB\n"),
            Some(2048.0 * 1024.0)
        );
        assert_eq!(resident_bytes("Name:\tassay\n"), None);
        assert_eq!(cpu_seconds(&stat_fields("garbage")), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_this_process() {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
        let fields = stat_fields(&stat);
        assert!(cpu_seconds(&fields).is_some());
        assert!(start_ticks(&fields).is_some());
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        assert!(resident_bytes(&status).is_some_and(|b| b > 0.0));
    }
}
