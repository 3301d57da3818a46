//! What the engine holds of an image: a name (`repo:tag`) comes in, whether the engine has
//! it locally goes out. Asks the engine (I/O).

/// Whether the engine has `name` (`repo:tag`) locally, i.e. starting it needs no pull.
pub async fn is_local(name: &str) -> bool {
    match testcontainers::core::client::docker_client_instance().await {
        Ok(docker) => docker.inspect_image(name).await.is_ok(),
        Err(_) => false,
    }
}
