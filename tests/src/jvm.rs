//! The JVM build tools as users run them against vreg: Debian's `mvn` and
//! `gradle`, each with a settings file pointing at a registry and a
//! repository or home of its own (so every run starts from nothing).

use std::path::Path;
use std::process::{Command, Output};

/// Runs `mvn -B` with `settings` and the local repository `local_repo`;
/// panics with its output if it fails.
pub fn mvn(settings: &Path, local_repo: &Path, args: &[&str]) -> Output {
    let mut command = Command::new("timeout");
    command
        .args(["600", "mvn", "-B", "-s"])
        .arg(settings)
        .arg(format!("-Dmaven.repo.local={}", local_repo.display()))
        .args(args);
    succeeded(command, "mvn", args)
}

/// Runs `command` (the `tool`, installed by scripts/test, with `args`);
/// panics with its output unless it succeeds.
fn succeeded(mut command: Command, tool: &str, args: &[&str]) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {tool} (scripts/test installs it): {e}"));
    assert!(
        output.status.success(),
        "{tool} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `mvn deploy:deploy-file` of `jar` with `pom` to the repository at
/// `url` (server `vreg-project` in the settings).
pub fn deploy_file(settings: &Path, local_repo: &Path, url: &str, pom: &Path, jar: &Path) {
    mvn(
        settings,
        local_repo,
        &[
            "org.apache.maven.plugins:maven-deploy-plugin:3.0.0:deploy-file",
            &format!("-Dfile={}", jar.display()),
            &format!("-DpomFile={}", pom.display()),
            "-DrepositoryId=vreg-project",
            &format!("-Durl={url}"),
        ],
    );
}

/// `settings.xml` that sends every repository to `registry_url` (a mirror
/// of `*`, with SNAPSHOTs enabled through a repository it mirrors, as a
/// user who resolves SNAPSHOTs has it) and gives the servers `vreg` and
/// `vreg-project` `token`.
pub fn maven_settings(path: &Path, registry_url: &str, token: &str) {
    std::fs::write(
        path,
        format!(
            r#"<settings>
  <mirrors><mirror><id>vreg</id><mirrorOf>*</mirrorOf><url>{registry_url}</url></mirror></mirrors>
  <servers>
    <server><id>vreg</id><username>mvn</username><password>{token}</password></server>
    <server><id>vreg-project</id><username>mvn</username><password>{token}</password></server>
  </servers>
  <profiles><profile><id>vreg</id><repositories><repository><id>vreg-snapshots</id>
    <url>{registry_url}</url><releases><enabled>true</enabled></releases>
    <snapshots><enabled>true</enabled></snapshots></repository></repositories></profile></profiles>
  <activeProfiles><activeProfile>vreg</activeProfile></activeProfiles>
</settings>"#
        ),
    )
    .unwrap();
}

/// Runs Debian's `gradle` in `project` with `gradle_home` as its user home
/// (caches included) and no daemon; panics with its output if it fails.
pub fn gradle(project: &Path, gradle_home: &Path, args: &[&str]) -> Output {
    let mut command = Command::new("timeout");
    command
        .args(["600", "gradle", "--no-daemon", "--console=plain", "-g"])
        .arg(gradle_home)
        .args(args)
        .current_dir(project);
    succeeded(command, "gradle", args)
}

/// The hex SHA-1 of a file, as `sha1sum` prints it.
pub fn sha1_hex(path: &Path) -> String {
    let out = Command::new("sha1sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}
