// Keeps the live part of a broadcast's page current from the server's events; the server
// renders the HTML, this only swaps it in. Without JavaScript the page shows the state at load.
(function () {
  var live = document.getElementById("live");
  if (!live || live.dataset.ended === "true" || !window.EventSource) return;
  var source = new EventSource(live.dataset.events);
  source.addEventListener("progress", function (e) { live.innerHTML = e.data; });
  source.addEventListener("end", function (e) {
    if (e.data) live.innerHTML = e.data;
    live.dataset.ended = "true";
    source.close();
  });
})();
