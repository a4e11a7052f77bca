pub mod status_panel;
