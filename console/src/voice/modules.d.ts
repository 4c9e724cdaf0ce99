/** Vite's `?worker&url`: the built file's address (the PCM worklet is loaded by URL). */
declare module '*?worker&url' {
  const url: string;
  export default url;
}
