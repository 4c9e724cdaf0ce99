/**
 * 16-bit PCM arrives in frames of any length; engines take whole samples.
 * Returns a function that passes on whole samples and keeps an odd last
 * byte for the next frame. One per utterance.
 */
export function wholeSamples(): (frame: Buffer) => Buffer {
  let odd: Buffer | null = null;
  return (frame) => {
    let chunk = odd ? Buffer.concat([odd, frame]) : frame;
    odd = null;
    if (chunk.length & 1) {
      odd = chunk.subarray(chunk.length - 1);
      chunk = chunk.subarray(0, chunk.length - 1);
    }
    return chunk;
  };
}
